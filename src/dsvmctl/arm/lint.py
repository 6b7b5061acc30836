"""Lint rules for ARM templates that create Data Science VMs.

Rules run on the EVALUATED template (an Expansion), so a rule sees the values a deployment
would use, not the expressions: an NSG source written as `[parameters('source')]` is checked
with the value given. A few rules need to know what was written literally (an admin user name
or a location typed into the template); they read the raw declaration kept on each resource.

Conventions dsvmctl templates follow and these rules rely on:
  - a template that can be resized between a CPU and a GPU size declares both as parameters
    named `vmSize` and `gpuVmSize` (or tags the VM with `dsvmctl-gpu-size`); DSVM010 checks the
    pair can be resized into each other, DSVM008 checks the image boots on both.
  - suppressions live in the template: `metadata.dsvmctl.suppress: [{"rule": "DSVM003",
    "reason": "..."}]`. A suppression without a reason is itself a finding (DSVM000).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from .evaluator import join_path
from .parse import is_expression
from .template import Expansion, Resource, expand

try:  # size facts are shared with the resize planner
    from dsvmctl.catalog.sizes import SIZES as _CATALOG_SIZES
except ImportError:  # pragma: no cover - the catalog ships with dsvmctl
    _CATALOG_SIZES = {}
try:
    from dsvmctl.catalog.images import find_image as _find_image
except ImportError:  # pragma: no cover
    _find_image = None


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: str  # error | warning | info
    message: str
    path: str

    def to_dict(self) -> dict:
        return {"rule": self.rule, "severity": self.severity, "message": self.message, "path": self.path}


RULES: dict[str, str] = {
    "DSVM000": "lint configuration: a suppression needs a rule and a reason",
    "DSVM001": "NSG rule allows SSH or RDP from any source",
    "DSVM002": "Linux VM accepts password logins",
    "DSVM003": "secure parameter has a literal default",
    "DSVM004": "admin user name written literally",
    "DSVM005": "location written literally",
    "DSVM006": "Basic SKU public IP (retired)",
    "DSVM007": "retired VM size",
    "DSVM008": "image's Hyper-V generation cannot boot on the size",
    "DSVM009": "retired Data Science VM image",
    "DSVM010": "CPU and GPU sizes cannot be resized into each other (temp disk)",
    "DSVM011": "old API version",
}

VM = "microsoft.compute/virtualmachines"
VMSS = "microsoft.compute/virtualmachinescalesets"
NSG = "microsoft.network/networksecuritygroups"
NSG_RULE = "microsoft.network/networksecuritygroups/securityrules"
PUBLIC_IP = "microsoft.network/publicipaddresses"

ANY_SOURCE = {"*", "internet", "any", "0.0.0.0/0", "::/0", "0.0.0.0", "<nw>/0", "/0"}
ADMIN_PORTS = {22: "SSH", 3389: "RDP"}

# Used only where the catalog does not know a size (names Azure has retired, by pattern).
_RETIRED_SIZE_PATTERNS = [
    (re.compile(r"^standard_nc(6|12|24|24r)(_promo)?$", re.I), "NC (K80) sizes retired on 6 Sep 2023"),
    (re.compile(r"^standard_nc\d+r?s_v3$", re.I), "NCv3 (V100) sizes retired on 30 Sep 2025"),
    (re.compile(r"^standard_nc\d+r?s_v2$", re.I), "NCv2 (P100) sizes retired on 6 Sep 2023"),
    (re.compile(r"^standard_nd\d+r?s$", re.I), "ND (P40) sizes retired on 6 Sep 2023"),
    (re.compile(r"^standard_nv(6|12|24)(_promo)?$", re.I), "NV (M60) sizes retired on 6 Sep 2023"),
]
_GEN2_ONLY_PATTERNS = [
    re.compile(r"^standard_nc\d+ads_a100_v4$", re.I),
    re.compile(r"^standard_nc\d+adi?s_h100_v5$", re.I),
    re.compile(r"^standard_nd\d+is?r?_(h100|mi300x)_v5$", re.I),
    re.compile(r"^standard_nd\d+asr_v4$", re.I),
    re.compile(r"^standard_nd\d+amsr_a100_v4$", re.I),
]
_RETIRED_DSVM_OFFERS = {
    "ubuntu-1804": "the Ubuntu 18.04 DSVM was removed in 2022",
    "linux-data-science-vm-ubuntu": "the Ubuntu 16.04 DSVM was retired",
    "linux-data-science-vm": "the CentOS DSVM was retired",
    "dsvm-windows": "the Windows Server 2016 DSVM was retired",
    "windows-data-science-vm": "the Windows Server 2012 DSVM was retired",
}
# API versions older than these (about two years behind the newest) draw DSVM011.
MIN_API_VERSIONS = {
    "microsoft.compute/virtualmachines": "2024-03-01",
    "microsoft.compute/virtualmachines/extensions": "2024-03-01",
    "microsoft.compute/virtualmachines/runcommands": "2024-03-01",
    "microsoft.compute/virtualmachinescalesets": "2024-03-01",
    "microsoft.compute/disks": "2023-10-02",
    "microsoft.network/networksecuritygroups": "2023-09-01",
    "microsoft.network/networksecuritygroups/securityrules": "2023-09-01",
    "microsoft.network/publicipaddresses": "2023-09-01",
    "microsoft.network/networkinterfaces": "2023-09-01",
    "microsoft.network/virtualnetworks": "2023-09-01",
    "microsoft.network/virtualnetworks/subnets": "2023-09-01",
    "microsoft.devtestlab/schedules": "2018-09-15",
    "microsoft.storage/storageaccounts": "2023-01-01",
}


def lint(template: dict, expansion: Expansion | None = None, parameters: dict | None = None) -> list[Finding]:
    """All findings for `template` (expanded with `parameters` unless an expansion is given),
    minus those its metadata suppresses."""
    if expansion is None:
        expansion = expand(template, parameters)
    findings: list[Finding] = []
    resources = expansion.all_resources()
    for check in _CHECKS:
        findings.extend(check(template, expansion, resources))
    return _apply_suppressions(template, findings)


def _apply_suppressions(template: dict, findings: list[Finding]) -> list[Finding]:
    metadata = template.get("metadata") if isinstance(template.get("metadata"), dict) else {}
    entries = (metadata.get("dsvmctl") or {}).get("suppress") or [] if isinstance(metadata.get("dsvmctl"), dict) else []
    suppressed: set[str] = set()
    problems: list[Finding] = []
    for i, entry in enumerate(entries):
        path = f"metadata.dsvmctl.suppress[{i}]"
        rule = entry.get("rule") if isinstance(entry, dict) else None
        reason = entry.get("reason") if isinstance(entry, dict) else None
        if not isinstance(rule, str) or rule.upper() not in RULES:
            problems.append(Finding("DSVM000", "error", f"suppression names no known rule ({rule!r}); use one of "
                                    f"{', '.join(sorted(RULES))}.", path))
        elif not isinstance(reason, str) or not reason.strip():
            problems.append(Finding("DSVM000", "error", f"suppression of {rule} has no reason: add "
                                    "\"reason\": \"why this is acceptable here\" so reviewers can judge it.", path))
        else:
            suppressed.add(rule.upper())
    return [f for f in findings if f.rule not in suppressed] + problems


# --- helpers -----------------------------------------------------------------------------------


def _ci(obj: Any, *keys: str) -> Any:
    """Case-insensitive nested get; None when any step is missing."""
    for key in keys:
        if not isinstance(obj, dict):
            return None
        if key in obj:
            obj = obj[key]
            continue
        lowered = key.lower()
        obj = next((v for k, v in obj.items() if k.lower() == lowered), None)
    return obj


def _t(res: Resource) -> str:
    return res.type.lower()


def size_info(name: str) -> Any:
    size = _CATALOG_SIZES.get(name)
    if size is None:
        size = next((s for n, s in _CATALOG_SIZES.items() if n.lower() == name.lower()), None)
    return size


def retired_reason(size_name: str) -> str | None:
    size = size_info(size_name)
    retired = getattr(size, "retired", None) if size else None
    if retired:
        return f"{size.name} was retired on {retired}" if isinstance(retired, str) else f"{size.name} is retired"
    for pattern, reason in _RETIRED_SIZE_PATTERNS:
        if pattern.match(size_name):
            return reason
    return None


def size_generations(size_name: str) -> tuple[str, ...] | None:
    size = size_info(size_name)
    if size is not None:
        return tuple(size.generations)
    if any(p.match(size_name) for p in _GEN2_ONLY_PATTERNS):
        return ("V2",)
    return None


def image_generation(image: dict) -> str | None:
    publisher, offer, sku = (str(_ci(image, k) or "") for k in ("publisher", "offer", "sku"))
    if not sku:
        return None  # a custom or gallery image (by id): unknown
    if _find_image is not None:
        known = _find_image(publisher, offer, sku)
        if known is not None:
            return known.generation
    lowered = sku.lower()
    if "gen2" in lowered or lowered.endswith("-g2") or "azure-edition" in lowered:
        return "V2"
    return "V1"


def _vm_parts(res: Resource) -> tuple[dict, dict, str | None, str]:
    """(osProfile, storageProfile, vm size, path prefix) for a VM or a scale set."""
    if _t(res) == VMSS:
        profile = _ci(res.properties, "virtualMachineProfile") or {}
        size = _ci(res.body, "sku", "name")
        return (_ci(profile, "osProfile") or {}, _ci(profile, "storageProfile") or {}, size,
                join_path(res.path, "properties") + ".virtualMachineProfile")
    return (_ci(res.properties, "osProfile") or {}, _ci(res.properties, "storageProfile") or {},
            _ci(res.properties, "hardwareProfile", "vmSize"), join_path(res.path, "properties"))


def _vms(resources: Iterable[Resource]) -> Iterable[Resource]:
    return (r for r in resources if _t(r) in (VM, VMSS))


def vm_os(res: Resource) -> str | None:
    os_profile, storage, _, _ = _vm_parts(res)
    if _ci(os_profile, "linuxConfiguration") is not None:
        return "linux"
    if _ci(os_profile, "windowsConfiguration") is not None:
        return "windows"
    os_type = _ci(storage, "osDisk", "osType")
    if isinstance(os_type, str):
        return os_type.lower()
    image = _ci(storage, "imageReference") or {}
    publisher, offer, sku = (str(_ci(image, k) or "").lower() for k in ("publisher", "offer", "sku"))
    if "windows" in publisher or "windows" in offer or offer.startswith(("dsvm-win", "win")) or "datacenter" in sku:
        return "windows"
    linux_words = ("ubuntu", "debian", "rhel", "centos", "sles", "suse", "linux", "alma", "rocky", "flatcar", "mariner")
    if any(word in offer or word in publisher for word in linux_words):
        return "linux"
    return None


def _gpu_size(expansion: Expansion, res: Resource) -> str | None:
    tags = _ci(res.body, "tags") or {}
    tagged = _ci(tags, "dsvmctl-gpu-size")
    if isinstance(tagged, str) and tagged:
        return tagged
    value = next((v for k, v in expansion.parameters.items() if k.lower() == "gpuvmsize"), None)
    return value if isinstance(value, str) and value else None


# --- the rules -----------------------------------------------------------------------------------


def _nsg_rules(resources: list[Resource]) -> Iterable[tuple[str, dict, str]]:
    for res in resources:
        if _t(res) == NSG:
            for i, rule in enumerate(_ci(res.properties, "securityRules") or []):
                props = _ci(rule, "properties") or {}
                name = _ci(rule, "name") or f"#{i}"
                yield name, props, f"{res.path}.properties.securityRules[{i}].properties"
        elif _t(res) == NSG_RULE:
            yield res.name, res.properties, f"{res.path}.properties"


def _port_ranges(props: dict) -> list[str]:
    ranges = []
    single = _ci(props, "destinationPortRange")
    if single is not None:
        ranges.append(str(single))
    ranges.extend(str(r) for r in _ci(props, "destinationPortRanges") or [])
    return ranges


def _covers(port_range: str, port: int) -> bool:
    text = port_range.strip()
    if text in ("*", "any", "Any"):
        return True
    if "-" in text:
        low, _, high = text.partition("-")
        return low.strip().isdigit() and high.strip().isdigit() and int(low) <= port <= int(high)
    return text.isdigit() and int(text) == port


def check_open_admin_ports(template, expansion, resources) -> Iterable[Finding]:
    for name, props, path in _nsg_rules(resources):
        if str(_ci(props, "access") or "").lower() != "allow" or str(_ci(props, "direction") or "").lower() != "inbound":
            continue
        if str(_ci(props, "protocol") or "*").lower() not in ("*", "tcp", "any"):
            continue
        sources = [_ci(props, "sourceAddressPrefix")] + list(_ci(props, "sourceAddressPrefixes") or [])
        open_sources = [s for s in sources if isinstance(s, str) and s.strip().lower() in ANY_SOURCE]
        if not open_sources:
            continue
        for port, service in ADMIN_PORTS.items():
            if any(_covers(r, port) for r in _port_ranges(props)):
                yield Finding(
                    "DSVM001", "error",
                    f"NSG rule '{name}' allows {service} (port {port}) from any source ('{open_sources[0]}'): the "
                    "whole internet can try to log in. Restrict sourceAddressPrefix to your address or range "
                    "(a parameter such as allowedSourceAddress), or use Azure Bastion.",
                    path,
                )


def check_linux_password(template, expansion, resources) -> Iterable[Finding]:
    for res in _vms(resources):
        if vm_os(res) != "linux":
            continue
        os_profile, _, _, base = _vm_parts(res)
        disabled = _ci(os_profile, "linuxConfiguration", "disablePasswordAuthentication")
        if disabled is not True:
            yield Finding(
                "DSVM002", "error",
                f"Linux VM '{res.name}' accepts password logins (linuxConfiguration.disablePasswordAuthentication "
                "is not true): passwords can be guessed, keys cannot. Set it to true and give the admin an SSH "
                "public key in linuxConfiguration.ssh.publicKeys.",
                f"{base}.osProfile.linuxConfiguration.disablePasswordAuthentication",
            )


def check_secure_defaults(template, expansion, resources) -> Iterable[Finding]:
    for name, decl in (template.get("parameters") or {}).items():
        if not isinstance(decl, dict) or str(decl.get("type", "")).lower() not in ("securestring", "secureobject"):
            continue
        default = decl.get("defaultValue")
        literal = default not in (None, "", {}) and not (isinstance(default, str) and is_expression(default))
        if literal:
            yield Finding(
                "DSVM003", "error",
                f"secure parameter '{name}' has a literal default: the secret is in the template for anyone to "
                "read and every deployment shares it. Remove the default and pass the value at deployment "
                "(or from Key Vault).",
                f"parameters.{name}.defaultValue",
            )


def _literal_through_variables(value: Any, template: dict) -> bool:
    """A literal string, or `[variables('x')]` whose variable is one."""
    if not isinstance(value, str):
        return False
    if not is_expression(value):
        return True
    match = re.fullmatch(r"\[\s*variables\('([^']+)'\)\s*\]", value)
    if match:
        variables = template.get("variables") or {}
        raw = next((v for k, v in variables.items() if k.lower() == match.group(1).lower()), None)
        return isinstance(raw, str) and not is_expression(raw)
    return False


def check_literal_admin_username(template, expansion, resources) -> Iterable[Finding]:
    for res in _vms(resources):
        raw_props = _ci(res.raw, "properties") or {}
        raw_os = _ci(raw_props, "virtualMachineProfile", "osProfile") if _t(res) == VMSS else _ci(raw_props, "osProfile")
        value = _ci(raw_os, "adminUsername")
        if _literal_through_variables(value, template):
            _, _, _, base = _vm_parts(res)
            yield Finding(
                "DSVM004", "warning",
                f"VM '{res.name}' has the admin user name '{value}' written into the template: a well-known name "
                "is half a credential. Take it from a parameter (a default such as 'azureuser' is fine).",
                f"{base}.osProfile.adminUsername",
            )


def check_literal_location(template, expansion, resources) -> Iterable[Finding]:
    for res in resources:
        value = _ci(res.raw, "location")
        if isinstance(value, str) and not is_expression(value) and value.lower() != "global":
            yield Finding(
                "DSVM005", "warning",
                f"resource '{res.name}' is pinned to location '{value}': the template cannot be deployed "
                "elsewhere and the resource may land away from its resource group. Use a 'location' parameter "
                "defaulting to [resourceGroup().location].",
                f"{res.path}.location",
            )


def check_basic_public_ip(template, expansion, resources) -> Iterable[Finding]:
    for res in resources:
        if _t(res) != PUBLIC_IP:
            continue
        sku = _ci(res.body, "sku", "name")
        if sku is None or str(sku).lower() == "basic":
            what = "has no sku, so it is Basic" if sku is None else "uses the Basic sku"
            yield Finding(
                "DSVM006", "error",
                f"public IP '{res.name}' {what}: Basic public IPs were retired on 30 Sep 2025, and a dynamic one "
                "changes address when the VM is deallocated for a resize. Use sku {\"name\": \"Standard\"} "
                "with publicIPAllocationMethod Static.",
                f"{res.path}.sku",
            )


def _size_mentions(template: dict) -> Iterable[tuple[str, str]]:
    """Size names written in parameter defaults/allowed values and variables (options a user may pick)."""
    def walk(value: Any, path: str):
        if isinstance(value, str):
            if re.fullmatch(r"Standard_[A-Za-z0-9_]+", value):
                yield value, path
        elif isinstance(value, list):
            for i, item in enumerate(value):
                yield from walk(item, f"{path}[{i}]")
        elif isinstance(value, dict):
            for key, item in value.items():
                yield from walk(item, join_path(path, key))

    for name, decl in (template.get("parameters") or {}).items():
        if isinstance(decl, dict):
            for key in ("defaultValue", "allowedValues"):
                if key in decl:
                    yield from walk(decl[key], f"parameters.{name}.{key}")
    yield from walk(template.get("variables") or {}, "variables")


def check_retired_sizes(template, expansion, resources) -> Iterable[Finding]:
    reported: set[str] = set()
    for res in _vms(resources):
        _, _, size, base = _vm_parts(res)
        for candidate, where in ((size, f"{base}.hardwareProfile.vmSize"), (_gpu_size(expansion, res), None)):
            if not isinstance(candidate, str):
                continue
            reason = retired_reason(candidate)
            if reason and candidate.lower() not in reported:
                reported.add(candidate.lower())
                role = "size" if where else "GPU size (gpuVmSize)"
                yield Finding(
                    "DSVM007", "error",
                    f"VM '{res.name}' uses {role} {candidate}: {reason}, so deployments fail. Choose a current "
                    "size such as Standard_NC4as_T4_v3 (T4) or Standard_NC24ads_A100_v4 (A100).",
                    where or f"{res.path}.tags",
                )
    for candidate, path in _size_mentions(template):
        reason = retired_reason(candidate)
        if reason and candidate.lower() not in reported:
            reported.add(candidate.lower())
            yield Finding(
                "DSVM007", "warning",
                f"the template offers size {candidate}: {reason}; picking it makes the deployment fail. "
                "Replace it with a current size.",
                path,
            )


def check_generation(template, expansion, resources) -> Iterable[Finding]:
    for res in _vms(resources):
        _, storage, size, base = _vm_parts(res)
        image = _ci(storage, "imageReference") or {}
        generation = image_generation(image) if isinstance(image, dict) else None
        if generation is None:
            continue
        for candidate in (size, _gpu_size(expansion, res)):
            if not isinstance(candidate, str):
                continue
            generations = size_generations(candidate)
            if generations and generation not in generations:
                wanted = "a Gen2 image (e.g. microsoft-dsvm ubuntu-2204 2204-gen2)" if generation == "V1" else \
                    "a Gen1 image or a size that boots Gen2"
                yield Finding(
                    "DSVM008", "error",
                    f"VM '{res.name}': image {image.get('offer')}:{image.get('sku')} is Hyper-V generation "
                    f"{generation[1]} but {candidate} boots only generation {', '.join(g[1] for g in generations)}; "
                    f"Azure refuses to create (or resize) it. Use {wanted}.",
                    f"{base}.storageProfile.imageReference",
                )


def check_retired_images(template, expansion, resources) -> Iterable[Finding]:
    for res in _vms(resources):
        _, storage, _, base = _vm_parts(res)
        image = _ci(storage, "imageReference") or {}
        publisher = str(_ci(image, "publisher") or "").lower()
        offer = str(_ci(image, "offer") or "").lower()
        reason = None
        if publisher == "microsoft-ads":
            reason = "images of publisher microsoft-ads are the retired first-generation DSVMs"
        elif publisher == "microsoft-dsvm" and offer in _RETIRED_DSVM_OFFERS:
            reason = _RETIRED_DSVM_OFFERS[offer]
        elif publisher == "microsoft-dsvm" and _find_image is not None:
            known = _find_image(publisher, offer, str(_ci(image, "sku") or ""))
            if known is not None and known.retired:
                reason = f"{known.description} was retired ({known.retired})"
        if reason:
            yield Finding(
                "DSVM009", "error",
                f"VM '{res.name}' uses image {publisher}:{offer}:{_ci(image, 'sku')}: {reason}, so the "
                "deployment fails. Use microsoft-dsvm:ubuntu-2204:2204-gen2:latest or "
                "microsoft-dsvm:dsvm-win-2022:winserver-2022:latest.",
                f"{base}.storageProfile.imageReference",
            )


def check_temp_disk_pair(template, expansion, resources) -> Iterable[Finding]:
    for res in _vms(resources):
        _, _, size, base = _vm_parts(res)
        gpu = _gpu_size(expansion, res)
        if not isinstance(size, str) or not gpu or size.lower() == gpu.lower():
            continue
        cpu_info, gpu_info = size_info(size), size_info(gpu)
        if cpu_info is None or gpu_info is None:
            unknown = size if cpu_info is None else gpu
            yield Finding(
                "DSVM010", "info",
                f"VM '{res.name}': size {unknown} is not in dsvmctl's size catalog, so the {size} <-> {gpu} "
                "resize could not be checked for the temp-disk rule.",
                f"{base}.hardwareProfile.vmSize",
            )
            continue
        if (cpu_info.temp_disk_gb > 0) != (gpu_info.temp_disk_gb > 0):
            with_disk, without = (size, gpu) if cpu_info.temp_disk_gb > 0 else (gpu, size)
            yield Finding(
                "DSVM010", "error",
                f"VM '{res.name}' is planned to move between {size} and {gpu}, but {with_disk} has a local temp "
                f"disk and {without} has none: Azure refuses such resizes. Pick a CPU size with a temp disk "
                "(the 'd' sizes: Standard_D4ds_v5, Standard_E4ds_v5, Standard_D4ads_v5).",
                f"{base}.hardwareProfile.vmSize",
            )


def _version_date(version: str) -> str:
    return version[:10]


def check_api_versions(template, expansion, resources) -> Iterable[Finding]:
    for res in resources:
        minimum = MIN_API_VERSIONS.get(_t(res))
        if minimum and isinstance(res.api_version, str) and _version_date(res.api_version) < minimum:
            yield Finding(
                "DSVM011", "warning",
                f"resource '{res.name}' ({res.type}) uses API version {res.api_version}, more than about two "
                f"years old: newer properties (security type, delete options) are ignored or rejected. Use "
                f"{minimum} or later.",
                f"{res.path}.apiVersion",
            )


_CHECKS: list[Callable[[dict, Expansion, list[Resource]], Iterable[Finding]]] = [
    check_open_admin_ports,
    check_linux_password,
    check_secure_defaults,
    check_literal_admin_username,
    check_literal_location,
    check_basic_public_ip,
    check_retired_sizes,
    check_generation,
    check_retired_images,
    check_temp_disk_pair,
    check_api_versions,
]
