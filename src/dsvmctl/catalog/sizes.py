"""VM sizes dsvmctl knows: Azure's catalog from data, plus dsvmctl's own facts about its sizes.

Every size Azure offers in the modelled regions comes from `data/catalog.json`, which
scripts/build_catalog.py regenerates from real resourceSkus / vmSizes / list-skus dumps (loaded
lazily, once). The sizes dsvmctl plans with (`CURATED`: the GPU sizes and their CPU partners) add
what no dump says: the hardware cluster a running VM can move within, the GPU model, a price.
The catalog feeds the emulator (resourceSkus / vmSizes / usages), preflight and the resize
planner, and the cost report. Prices are approximate Linux pay-as-you-go prices in eastus;
Azure's Retail Prices API is the authority, so the date of this snapshot travels with every report.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Protocol

PRICES_AS_OF = "2026-11-01"
PRICES_SOURCE = "bundled snapshot (approximate Linux pay-as-you-go, eastus)"


@dataclass(frozen=True)
class Size:
    name: str
    family: str  # quota family, as the usages API and quota errors name it
    cluster: str  # hardware cluster: a running VM can only move between sizes of one cluster
    vcpus: int
    memory_gb: float
    temp_disk_gb: int  # 0 = no local temp (resource) disk
    generations: tuple[str, ...]  # Hyper-V generations the size boots: "V1", "V2"
    gpus: int = 0
    gpu_model: str | None = None
    gpu_memory_gb: int | None = None
    price_per_hour: float | None = None
    accelerated_networking: bool = True
    premium_io: bool = True
    retired: str | None = None  # retirement date, when Azure no longer offers the size
    trusted_launch: bool = True  # False where resourceSkus lists TrustedLaunchDisabled

    @property
    def has_temp_disk(self) -> bool:
        return self.temp_disk_gb > 0

    @property
    def is_gpu(self) -> bool:
        return self.gpus > 0

    def capabilities(self) -> list[dict[str, str]]:
        """Capabilities as resourceSkus reports them: name/value pairs, values always strings."""
        caps = {
            "MaxResourceVolumeMB": str(self.temp_disk_gb * 1024),
            "OSVhdSizeMB": "1047552",
            "vCPUs": str(self.vcpus),
            "MemoryGB": _number(self.memory_gb),
            "HyperVGenerations": ",".join(self.generations),
            "MaxDataDiskCount": str(min(64, max(4, self.vcpus * 2))),
            "PremiumIO": str(self.premium_io),
            "AcceleratedNetworkingEnabled": str(self.accelerated_networking),
            "vCPUsAvailable": str(self.vcpus),
            "GPUs": str(self.gpus),
            "MaxNetworkInterfaces": str(min(8, max(2, self.vcpus // 2))),
        }
        if not self.trusted_launch:
            caps["TrustedLaunchDisabled"] = "True"
        return [{"name": k, "value": v} for k, v in caps.items()]


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _sizes(*sizes: Size) -> dict[str, Size]:
    return {s.name: s for s in sizes}


G12 = ("V1", "V2")
G2 = ("V2",)
G1 = ("V1",)

CURATED: dict[str, Size] = _sizes(
    # NC T4 v3 (AMD EPYC + NVIDIA T4)
    Size("Standard_NC4as_T4_v3", "standardNCASv3_T4Family", "nc-t4-v3", 4, 28, 176, G12, 1, "Tesla T4", 16, 0.526),
    Size("Standard_NC8as_T4_v3", "standardNCASv3_T4Family", "nc-t4-v3", 8, 56, 352, G12, 1, "Tesla T4", 16, 0.752),
    Size("Standard_NC16as_T4_v3", "standardNCASv3_T4Family", "nc-t4-v3", 16, 110, 352, G12, 1, "Tesla T4", 16, 1.204),
    Size("Standard_NC64as_T4_v3", "standardNCASv3_T4Family", "nc-t4-v3", 64, 440, 2816, G12, 4, "Tesla T4", 16, 4.352),
    # NC A100 v4 and H100 v5: Gen2 only
    Size("Standard_NC24ads_A100_v4", "StandardNCADSA100v4Family", "nc-a100-v4", 24, 220, 64, G2, 1, "A100 80GB PCIe", 80, 3.673),
    Size("Standard_NC48ads_A100_v4", "StandardNCADSA100v4Family", "nc-a100-v4", 48, 440, 128, G2, 2, "A100 80GB PCIe", 80, 7.346),
    Size("Standard_NC96ads_A100_v4", "StandardNCADSA100v4Family", "nc-a100-v4", 96, 880, 256, G2, 4, "A100 80GB PCIe", 80, 14.692),
    Size("Standard_NC40ads_H100_v5", "standardNCadsH100v5Family", "nc-h100-v5", 40, 320, 3576, G2, 1, "H100 NVL", 94, 6.98),
    Size("Standard_NC80adis_H100_v5", "standardNCadsH100v5Family", "nc-h100-v5", 80, 640, 7152, G2, 2, "H100 NVL", 94, 13.96),
    # Retired GPU sizes: known, so messages can say so, but never offered.
    Size("Standard_NC6s_v3", "standardNCSv3Family", "nc-v100-v3", 6, 112, 736, G12, 1, "Tesla V100", 16, None, retired="2025-09-30"),
    Size("Standard_NC12s_v3", "standardNCSv3Family", "nc-v100-v3", 12, 224, 1474, G12, 2, "Tesla V100", 16, None, retired="2025-09-30"),
    Size("Standard_NC24s_v3", "standardNCSv3Family", "nc-v100-v3", 24, 448, 2948, G12, 4, "Tesla V100", 16, None, retired="2025-09-30"),
    Size("Standard_NC6", "standardNCFamily", "nc-k80", 6, 56, 340, G1, 1, "Tesla K80", 12, None, accelerated_networking=False, premium_io=False, retired="2023-09-06"),
    Size("Standard_NC12", "standardNCFamily", "nc-k80", 12, 112, 680, G1, 2, "Tesla K80", 12, None, accelerated_networking=False, premium_io=False, retired="2023-09-06"),
    Size("Standard_NC24", "standardNCFamily", "nc-k80", 24, 224, 1440, G1, 4, "Tesla K80", 12, None, accelerated_networking=False, premium_io=False, retired="2023-09-06"),
    Size("Standard_NC6_Promo", "standardNCPromoFamily", "nc-k80", 6, 56, 340, G1, 1, "Tesla K80", 12, None, accelerated_networking=False, premium_io=False, retired="2023-09-06"),
    # CPU sizes with a temp disk: valid CPU partners of NC sizes.
    Size("Standard_D4ds_v5", "standardDDSv5Family", "intel-v5", 4, 16, 150, G12, price_per_hour=0.226),
    Size("Standard_D8ds_v5", "standardDDSv5Family", "intel-v5", 8, 32, 300, G12, price_per_hour=0.452),
    Size("Standard_E4ds_v5", "standardEDSv5Family", "intel-v5", 4, 32, 150, G12, price_per_hour=0.288),
    Size("Standard_D4ads_v5", "standardDADSv5Family", "amd-v5", 4, 16, 150, G12, price_per_hour=0.206),
    # CPU sizes without a temp disk: can never move to an NC size.
    Size("Standard_D4s_v5", "standardDSv5Family", "intel-v5", 4, 16, 0, G12, price_per_hour=0.192),
    Size("Standard_D8s_v5", "standardDSv5Family", "intel-v5", 8, 32, 0, G12, price_per_hour=0.384),
    Size("Standard_E4s_v5", "standardESv5Family", "intel-v5", 4, 32, 0, G12, price_per_hour=0.252),
    Size("Standard_E8s_v5", "standardESv5Family", "intel-v5", 8, 64, 0, G12, price_per_hour=0.504),
    Size("Standard_D4as_v5", "standardDASv5Family", "amd-v5", 4, 16, 0, G12, price_per_hour=0.172),
    # Older general-purpose sizes that Azure's own API examples use.
    Size("Standard_D1_v2", "standardDv2Family", "intel-v2", 1, 3.5, 50, G12, price_per_hour=0.073),
    Size("Standard_D2_v2", "standardDv2Family", "intel-v2", 2, 7, 100, G12, price_per_hour=0.146),
    Size("Standard_A1_v2", "standardAv2Family", "intel-av2", 1, 2, 10, G1, price_per_hour=0.043,
         accelerated_networking=False, premium_io=False),
    Size("Standard_A2_v2", "standardAv2Family", "intel-av2", 2, 4, 20, G1, price_per_hour=0.091,
         accelerated_networking=False, premium_io=False),
)


# The regions the catalog models (each with its own size list in the data file).
REGIONS = ("eastus", "eastus2", "westus", "westus2", "westeurope", "northeurope", "southcentralus")


@functools.lru_cache(maxsize=1)
def catalog_data() -> dict:
    """The bundled catalog file, parsed once."""
    return json.loads(resources.files("dsvmctl").joinpath("data/catalog.json").read_text())


def _from_record(name: str, record: list, retired: str | None) -> Size:
    fields = dict(zip(catalog_data()["size_fields"], record))
    return Size(name, fields["family"], fields["family"].lower(), fields["vcpus"], fields["memory_gb"],
                fields["temp_disk_gb"], tuple(fields["generations"].split(",")), fields["gpus"],
                accelerated_networking=fields["accelerated_networking"], premium_io=fields["premium_io"],
                retired=retired)


@functools.lru_cache(maxsize=1)
def _all_sizes() -> dict[str, Size]:
    data = catalog_data()
    sizes = {name: _from_record(name, record, data["retired"].get(name)) for name, record in data["sizes"].items()}
    sizes.update(CURATED)  # dsvmctl's own facts win (cluster, GPU model, price)
    return sizes


@functools.lru_cache(maxsize=1)
def _by_lower_name() -> dict[str, Size]:
    return {name.lower(): size for name, size in _all_sizes().items()}


class _Catalog(Mapping):
    """Every size by exact name; built from the data file on first use."""

    def __getitem__(self, name: str) -> Size:
        return _all_sizes()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(_all_sizes())

    def __len__(self) -> int:
        return len(_all_sizes())


SIZES: Mapping[str, Size] = _Catalog()


def lookup(name: str) -> Size | None:
    """Find a size by name, case-insensitively (ARM treats size names so)."""
    return _all_sizes().get(name) or _by_lower_name().get(name.lower())


@functools.lru_cache(maxsize=None)
def offered_in(location: str) -> tuple[Size, ...]:
    """The current sizes a region offers: its list in the data, plus dsvmctl's curated sizes
    (offered in every modelled region, as before the catalog came from data)."""
    location = location.replace(" ", "").lower()
    if location not in REGIONS:
        return ()
    names = dict.fromkeys(catalog_data()["regions"].get(location, []))
    names.update(dict.fromkeys(n for n, s in CURATED.items() if not s.retired))
    return tuple(s for n in names if (s := _all_sizes().get(n)) is not None and not s.retired)


class SizeFacts(Protocol):
    """What the resize-partner rule reads: a catalog `Size` or a live resourceSkus `SkuInfo`."""

    name: str
    temp_disk_gb: int
    generations: tuple[str, ...]
    retired: str | None
    gpus: int


def resize_obstacles(current: SizeFacts, target: SizeFacts, *, generation: str | None = None) -> list[str]:
    """Why a VM on `current` can never be resized to `target` keeping its OS disk ([] : it can),
    as the planners' problem codes: "temp-disk-pairing", "hyperv-generation".

    Azure refuses a resize between a size with a local temp (resource) disk and one without,
    and a size that cannot boot the OS disk's Hyper-V generation. `generation` is the disk's
    ("V1"/"V2") when known; without it, the two sizes must share a generation.
    """
    obstacles = []
    if (current.temp_disk_gb > 0) != (target.temp_disk_gb > 0):
        obstacles.append("temp-disk-pairing")
    bootable = {generation.upper()} if generation else set(current.generations)
    if not bootable & set(target.generations):
        obstacles.append("hyperv-generation")
    return obstacles


def can_resize_between(current: SizeFacts, target: SizeFacts, *, generation: str | None = None) -> bool:
    """Whether a VM on `current` can ever be resized to `target`, keeping its OS disk."""
    return not resize_obstacles(current, target, generation=generation)


def resize_partners(size: SizeFacts, candidates: Iterable[SizeFacts] | None = None, *,
                    generation: str | None = None) -> list[SizeFacts]:
    """The current sizes among `candidates` (default: the sizes dsvmctl plans with) that a VM of
    `size` could be resized to, by `can_resize_between`; in the candidates' order."""
    pool = CURATED.values() if candidates is None else candidates
    return [other for other in pool if other.name.lower() != size.name.lower() and not other.retired
            and can_resize_between(size, other, generation=generation)]


def gpu_partners(size: SizeFacts, candidates: Iterable[SizeFacts] | None = None, *,
                 generation: str | None = None) -> list[str]:
    """Names of the GPU sizes a CPU size can be resized to (none for a GPU size), sorted."""
    if size.gpus:
        return []
    return sorted(other.name for other in resize_partners(size, candidates, generation=generation) if other.gpus)


def family_display_name(family: str) -> str:
    """The localized name the usages API gives a family, e.g. 'Standard NCASv3_T4 Family vCPUs'."""
    core = family[len("standard"):] if family.lower().startswith("standard") else family
    core = core[: -len("Family")] if core.endswith("Family") else core
    return f"Standard {core} Family vCPUs"
