#!/usr/bin/env python3
"""Regenerate src/dsvmctl/data/catalog.json from real Azure catalog dumps.

    python scripts/build_catalog.py DUMPS_DIR      # e.g. the shared catalog-data folder

DUMPS_DIR holds recordings of Azure's own answers (vcrpy YAML, test-proxy / Java session JSON):
resourceSkus, vmSizes, az vm list-skus tables, image walks and the aliases document. The script
reads them in place and writes one compact file: VM sizes with their capabilities, which region
offers which size, the marketplace images (publishers, offers, SKUs, versions) and the alias
document `az vm create` fetches. Newer sources win over older ones for the same size.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import yaml

OUT = Path(__file__).resolve().parent.parent / "src" / "dsvmctl" / "data" / "catalog.json"
REGIONS = ("eastus", "eastus2", "westus", "westus2", "westeurope", "northeurope", "southcentralus")
SIZE_FIELDS = ("family", "vcpus", "memory_gb", "temp_disk_gb", "generations", "gpus", "accelerated_networking",
               "premium_io", "max_data_disks", "max_nics")

# Sizes Azure has retired, by quota family (https://aka.ms/... retirement notices): kept in the
# catalog so errors can say so, never offered.
RETIRED_FAMILIES = {
    "standardNCFamily": "2023-09-06", "standardNCPromoFamily": "2023-09-06", "standardNCv2Family": "2023-09-06",
    "standardNCSv2Family": "2023-09-06", "standardNDFamily": "2023-09-06", "standardNDSFamily": "2023-09-06",
    "standardNVFamily": "2023-09-06", "standardNVPromoFamily": "2023-09-06", "standardNCSv3Family": "2025-09-30",
    "basicAFamily": "2024-08-31", "standardA0_A7Family": "2024-08-31", "standardA8_A11Family": "2024-08-31",
    "standardHFamily": "2024-09-28", "standardHPromoFamily": "2024-09-28", "standardLSFamily": "2024-08-31",
    "standardGFamily": "2023-11-15", "standardGSFamily": "2023-11-15", "standardNVSv3Family": "2026-09-30",
}

# Images no dump lists versions for (Ubuntu 20.04+, RHEL, Windows Server, the DSVMs): their
# offers and SKUs as the aliases document and Canonical's offer list name them, with version
# strings in each publisher's own format. Marked "curated" in the output.
CURATED_IMAGES = {
    "Canonical": {
        "0001-com-ubuntu-server-focal": {"20_04-lts": ("V1", ["20.04.202409110", "20.04.202410020"]),
                                         "20_04-lts-gen2": ("V2", ["20.04.202409110", "20.04.202410020"])},
        "0001-com-ubuntu-server-jammy": {"22_04-lts": ("V1", ["22.04.202409250", "22.04.202410020"]),
                                         "22_04-lts-gen2": ("V2", ["22.04.202409250", "22.04.202410020"])},
        "ubuntu-24_04-lts": {"server": ("V2", ["24.04.202409120", "24.04.202410010"]),
                             "server-gen1": ("V1", ["24.04.202409120", "24.04.202410010"])},
    },
    "RedHat": {"RHEL": {"8-lvm-gen2": ("V2", ["8.10.2024072415", "8.10.2024091015"]),
                        "9-lvm-gen2": ("V2", ["9.4.2024081415", "9.4.2024092415"]),
                        "9_4": ("V1", ["9.4.2024081415", "9.4.2024092415"])}},
    # Every Windows Server SKU the aliases document names is deployable (the document is Azure's own
    # list of images `az vm create` offers), the older ones included.
    "MicrosoftWindowsServer": {"WindowsServer": {
        "2008-R2-SP1": ("V1", ["7601.26713.230906", "7601.26768.231004"]),
        "2012-Datacenter": ("V1", ["9200.24462.230906", "9200.24520.231004"]),
        "2012-R2-Datacenter": ("V1", ["9600.21563.230906", "9600.21618.231004"]),
        "2016-Datacenter": ("V1", ["14393.7259.240811", "14393.7428.241004"]),
        "2019-datacenter-gensecond": ("V2", ["17763.6293.240905", "17763.6414.241004"]),
        "2019-datacenter": ("V1", ["17763.6293.240905", "17763.6414.241004"]),
        "2022-datacenter-azure-edition": ("V2", ["20348.2700.240911", "20348.2762.241006"]),
        "2022-datacenter-azure-edition-core": ("V2", ["20348.2700.240911", "20348.2762.241006"]),
        "2022-datacenter-g2": ("V2", ["20348.2700.240911", "20348.2762.241006"]),
        "2022-datacenter": ("V1", ["20348.2700.240911", "20348.2762.241006"]),
        "2025-datacenter-azure-edition": ("V2", ["26100.1742.240906", "26100.2033.241004"]),
        "2025-datacenter-g2": ("V2", ["26100.1742.240906", "26100.2033.241004"])}},
    "microsoft-dsvm": {
        "ubuntu-2204": {"2204-gen2": ("V2", ["24.10.01", "25.05.12", "25.10.20"])},
        "ubuntu-2004": {"2004-gen2": ("V2", ["24.10.01", "25.05.12", "25.10.20"]),
                        "2004": ("V1", ["24.10.01", "25.05.12", "25.10.20"])},
        "dsvm-win-2022": {"winserver-2022": ("V2", ["24.10.01", "25.05.12", "25.10.20"])},
        "dsvm-win-2019": {"winserver-2019": ("V1", ["24.10.01", "25.05.12", "25.10.20"])},
    },
}
# Resource providers whose registration metadata (authorizations, per-type apiProfiles) the
# emulator serves from the providers dump.
PROVIDER_NAMESPACES = ("Microsoft.Compute", "Microsoft.Network", "Microsoft.Resources", "Microsoft.Storage",
                       "Microsoft.DevTestLab")
# Image walks: publisher -> offer prefixes worth keeping (dumps list thousands of offers).
KEEP_VERSIONS = 8
KEEP_OFFERS = {"canonical": None, "debian": None}


def recordings(path: Path):
    """(uri, parsed body) for every interaction of a recording, whatever its format."""
    text = path.read_text()
    if path.suffix == ".yaml":
        for item in yaml.safe_load(text).get("interactions", []):
            yield item["request"]["uri"], _json(item["response"]["body"].get("string"))
        return
    data = json.loads(text)
    for item in data.get("Entries", []):
        yield item["RequestUri"], _json(item.get("ResponseBody"))
    for item in data.get("networkCallRecords", []):
        yield item["Uri"], _json((item.get("Response") or {}).get("Body"))


def _json(body):
    if isinstance(body, (dict, list)) or body is None:
        return body
    try:
        return json.loads(body)
    except ValueError:
        return None


def caps(entry: dict) -> dict[str, str]:
    return {c["name"]: c["value"] for c in entry.get("capabilities") or []}


def family_from_name(name: str) -> str:
    """Quota family from a size name, as Azure forms it (Standard_D4ads_v5 -> standardDADSv5Family)."""
    short = name.split("_", 1)[1] if "_" in name else name
    match = re.match(r"([A-Z]+)\d+(?:-\d+)?([a-z]*)((?:_[A-Z][A-Za-z0-9]*)*)(?:_v(\d+))?", short)
    if not match:
        return "standard" + re.sub(r"\W", "", short) + "Family"
    series, letters, accel, version = match.groups()
    return f"standard{series}{letters.upper()}{accel.replace('_', '')}{'v' + version if version else ''}Family"


def family_from_display(display: str) -> str:
    """'Standard NCASv3_T4 Family' -> 'standardNCASv3_T4Family'."""
    if " " not in display:
        return display  # already the quota family's id
    core = display.replace(" Family", "").replace("Standard ", "")
    return f"standard{core.replace(' ', '')}Family"


def size_record(entry: dict, family: str | None) -> list:
    c = caps(entry)
    return [family or entry.get("family") or family_from_name(entry["name"]),
            int(c.get("vCPUs", 0)), _num(c.get("MemoryGB", 0)), int(c.get("MaxResourceVolumeMB", 0)) // 1024,
            c.get("HyperVGenerations", "V1"), int(c.get("GPUs", 0)),
            c.get("AcceleratedNetworkingEnabled", "False") == "True", c.get("PremiumIO", "False") == "True",
            int(c.get("MaxDataDiskCount", 4)), int(c.get("MaxNetworkInterfaces", 2))]


def _num(value) -> float | int:
    number = float(value)
    return int(number) if number.is_integer() else number


def build(dumps: Path) -> dict:
    sizes: dict[str, list] = {}
    regions: dict[str, set[str]] = {r: set() for r in REGIONS}
    sources: list[str] = []
    derived: list[str] = []  # sizes whose generations, GPUs and networking are read from the name

    def merge(name: str, record: list, *, fill_only: bool = False) -> None:
        if name not in sizes or not fill_only:
            sizes[name] = record

    files = {p.name: p for p in dumps.rglob("*") if p.is_file()}

    # Oldest first, so newer data overwrites: 2018 all-regions resourceSkus.
    for uri, body in recordings(files["test_vm_availset_convert.yaml"]):
        if "/skus" in uri and isinstance(body, dict):
            for entry in body["value"]:
                if entry["resourceType"] == "virtualMachines":
                    merge(entry["name"], size_record(entry, None))
                    for location in entry["locations"]:
                        if location.lower() in regions and not entry.get("restrictions"):
                            regions[location.lower()].add(entry["name"])
            sources.append("resourceSkus, all regions, 2018-07 (azure-cli hybrid recording)")
    # 2020 eastus2 resourceSkus.
    for uri, body in recordings(files["canListSkusByRegion.json"]):
        if isinstance(body, dict) and body.get("value"):
            for entry in body["value"]:
                if entry["resourceType"] == "virtualMachines":
                    merge(entry["name"], size_record(entry, None))
                    regions["eastus2"].add(entry["name"])
            sources.append("resourceSkus, eastus2, 2020-04 (azure-sdk-for-java recording)")
    # 2022 eastus Batch view (Compute capability names).
    for uri, body in recordings(files["recording_location_listsupportedvirtualmachineskus_test.json"]):
        if isinstance(body, dict) and body.get("value"):
            for entry in body["value"]:
                family = family_from_display(entry["familyName"]) if entry.get("familyName") else None
                known = sizes.get(entry["name"])
                merge(entry["name"], size_record(entry, known[0] if known else family))
                regions["eastus"].add(entry["name"])
            sources.append("virtualMachineSkus, eastus, 2022-11 (azure-sdk-for-js Batch recording)")
    # 2023 westus vmSizes: names and sizes only; capabilities kept from above where known.
    for uri, body in recordings(files["test_vm_size_list.yaml"]):
        if isinstance(body, dict) and body.get("value"):
            for entry in body["value"]:
                name = entry["name"]
                if name not in sizes:
                    # vCPUs, memory and temp disk are the dump's; the rest is derived from the name
                    # (listed under "derived" in the output): Arm64 ('p') and v6 sizes boot Gen2 only,
                    # 's' marks premium storage.
                    features = re.sub(r"^[A-Z]+\d+(-\d+)?", "", name.split("_")[1])
                    gen2_only = "p" in features or name.endswith("_v6")
                    sizes[name] = [family_from_name(name), entry["numberOfCores"], _num(entry["memoryInMB"] / 1024),
                                   entry["resourceDiskSizeInMB"] // 1024, "V2" if gen2_only else "V1,V2", 0, True,
                                   "s" in features, entry["maxDataDiskCount"], 2]
                    derived.append(name)
                regions["westus"].add(name)
            sources.append("vmSizes, westus, 2023-10 (azure-cli recording)")
    # 2023 westus2 `az vm list-skus -o table`: which sizes the region offers.
    for line in files["vm_skus.md"].read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 5 and cells[0] == "virtualMachines" and cells[1] == "westus2":
            if cells[2] in sizes and "NotAvailableForSubscription" not in cells[4]:
                regions["westus2"].add(cells[2])
    sources.append("az vm list-skus table, westus2, 2023-07")

    retired = {name: RETIRED_FAMILIES[rec[0]] for name, rec in sizes.items() if rec[0] in RETIRED_FAMILIES}
    retired.update({n: "2024-08-31" for n in sizes if n.startswith("Basic_") or re.match(r"Standard_A\d+$", n)})
    return {
        "about": "Generated by scripts/build_catalog.py from real Azure catalog dumps; do not edit by hand.",
        "sources": sources,
        "size_fields": list(SIZE_FIELDS),
        "sizes": dict(sorted(sizes.items())),
        "retired": dict(sorted(retired.items())),
        "derived": sorted(derived),
        "regions": {r: sorted(n for n in names if n not in retired) for r, names in regions.items()},
        "images": build_images(files),
        "aliases": build_aliases(files),
        "providers": build_providers(files),
    }


def build_images(files: dict[str, Path]) -> dict:
    publishers: set[str] = set()
    offers: dict[str, dict[str, dict[str, dict]]] = {}
    walks = ("test_vm_images_list_thru_services.yaml", "test_vm_image_list_thru_services_filtered_by_arch.yaml",
             "test_vm_image_list_offers.yaml", "test_vm_image_list_publishers.yaml")
    for name in walks:
        for uri, body in recordings(files[name]):
            path = uri.split("?")[0]
            parts = path.split("/")
            lower = [p.lower() for p in parts]
            if not isinstance(body, list) or "publishers" not in lower:
                continue
            tail = parts[lower.index("publishers") + 1:]
            if not tail:
                publishers.update(item["name"] for item in body)
                continue
            publisher = tail[0]
            if publisher.lower() not in KEEP_OFFERS:
                continue
            catalog = offers.setdefault(publisher, {})
            if len(tail) == 4:  # {publisher}/artifacttypes/vmimage/offers
                for item in body:
                    catalog.setdefault(item["name"], {})
            elif len(tail) == 6:  # .../offers/{offer}/skus
                for item in body:
                    catalog.setdefault(tail[4], {}).setdefault(item["name"], {"versions": []})
            elif len(tail) == 8:  # .../skus/{sku}/versions
                sku = catalog.setdefault(tail[4], {}).setdefault(tail[6], {"versions": []})
                for item in body:
                    props = item.get("properties") or {}
                    sku["versions"].append(item["name"])
                    sku["generation"] = props.get("hyperVGeneration") or sku.get("generation") or "V1"
                    sku["architecture"] = props.get("architecture") or "x64"
    for publisher, publisher_offers in CURATED_IMAGES.items():
        publishers.add(publisher)
        target = next((offers[p] for p in offers if p.lower() == publisher.lower()), None)
        if target is None:
            target = offers.setdefault(publisher, {})
        for offer, skus in publisher_offers.items():
            for sku, (generation, versions) in skus.items():
                entry = {"versions": versions, "generation": generation, "architecture": "x64", "curated": True}
                target.setdefault(offer, {})[sku] = entry
    # Only SKUs with versions can be deployed; offers without SKUs stay listable (as Azure lists them).
    for publisher_offers in offers.values():
        for offer_skus in publisher_offers.values():
            for sku in offer_skus.values():
                # The newest few versions: enough to list and pin; the daily SKUs have hundreds.
                sku["versions"] = sorted(set(sku.get("versions", [])), key=_version_key)[-KEEP_VERSIONS:]
                sku.setdefault("generation", "V2" if "gen2" in str(sku).lower() else "V1")
    return {"publishers": sorted(publishers, key=str.lower), "offers": offers}


def _version_key(version: str):
    return [int(p) if p.isdigit() else p for p in re.split(r"[.]", version)]


def build_aliases(files: dict[str, Path]) -> dict:
    for uri, body in recordings(files["test_vm_image_list_by_alias.yaml"]):
        if isinstance(body, dict) and "outputs" in body:
            return body
    raise SystemExit("no aliases document in the dumps")


def build_providers(files: dict[str, Path]) -> dict:
    """Per namespace: the first-party applications it authorizes and each resource type's
    apiProfiles (Azure Stack profile -> api-version) and zoneMappings (region -> availability
    zones), as GET /providers answered (2020)."""
    out: dict[str, dict] = {}
    for uri, body in recordings(files["test_mgmt_resource.test_providers.yaml"]):
        if not (isinstance(body, dict) and body.get("value")):
            continue
        for provider in body["value"]:
            if provider["namespace"] not in PROVIDER_NAMESPACES:
                continue
            out[provider["namespace"]] = {
                "authorizations": provider.get("authorizations") or [],
                "apiProfiles": {t["resourceType"]: t["apiProfiles"] for t in provider["resourceTypes"]
                                if t.get("apiProfiles")},
                "zoneMappings": {t["resourceType"]: t["zoneMappings"] for t in provider["resourceTypes"]
                                 if t.get("zoneMappings")},
            }
    return dict(sorted(out.items()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dumps", type=Path, help="folder of real catalog dumps (recordings)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    catalog = build(args.dumps)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(catalog, separators=(",", ":"), sort_keys=False) + "\n")
    counts = {r: len(v) for r, v in catalog["regions"].items()}
    print(f"{args.out}: {args.out.stat().st_size} bytes, {len(catalog['sizes'])} sizes, per region {counts}, "
          f"{len(catalog['images']['publishers'])} publishers", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
