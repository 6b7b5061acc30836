"""Checks a spec before anything is written to Azure: pure, no cloud calls.

The caller fetches what the region offers (resourceSkus) and the subscription's quota (usages)
and passes them in; with nothing passed, the bundled catalog stands in, so the same rules run
offline (`dsvmctl validate`, tests). Every problem carries the fix, and all are reported at once:
users of other tools complain of launches that fail one region and one problem at a time.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal

from ..catalog import images as image_catalog
from ..catalog import sizes as size_catalog
from ..errors import UsageError

if TYPE_CHECKING:
    from ..spec import EnvironmentSpec

QUOTA_REQUEST_URL = "https://aka.ms/ProdportalCRP"
REGIONAL_CORES = "cores"  # usages name of "Total Regional vCPUs"
SPOT_CORES = "lowPriorityCores"  # spot VMs count here instead of their family


@dataclass(frozen=True)
class Problem:
    code: str  # stable, for scripts: 'temp-disk-pairing', 'quota', 'hyperv-generation', ...
    message: str  # what is wrong, with the numbers
    fix: str  # what to do about it
    field: str | None = None  # the spec field (or resize argument) at fault
    severity: Literal["error", "warning"] = "error"  # warnings do not stop a deployment

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        return f"{self.message}\n    fix: {self.fix}"


@dataclass(frozen=True)
class SkuInfo:
    """What the rules need to know about one VM size, live (resourceSkus) or from the catalog."""

    name: str
    vcpus: int
    family: str  # quota family, e.g. standardNCASv3_T4Family
    temp_disk_gb: int
    generations: tuple[str, ...]  # "V1", "V2"
    restricted_reason: str | None = None  # resourceSkus restriction reasonCode for the location
    accelerated_networking: bool = True
    gpus: int = 0
    premium_io: bool = True
    retired: str | None = None  # retirement date, from the catalog (resourceSkus just drops them)

    @property
    def has_temp_disk(self) -> bool:
        return self.temp_disk_gb > 0

    @classmethod
    def from_catalog(cls, size: size_catalog.Size) -> SkuInfo:
        return cls(name=size.name, vcpus=size.vcpus, family=size.family, temp_disk_gb=size.temp_disk_gb,
                   generations=tuple(size.generations), accelerated_networking=size.accelerated_networking,
                   gpus=size.gpus, premium_io=size.premium_io, retired=size.retired)

    @classmethod
    def from_resource_sku(cls, item: dict[str, Any], location: str | None = None) -> SkuInfo:
        """One `virtualMachines` item of GET .../providers/Microsoft.Compute/skus.

        Capabilities are name/value strings. Only a Location restriction (for `location`, when
        given) blocks a VM; a Zone restriction only rules out some zones.
        """
        caps = {c.get("name", ""): str(c.get("value", "")) for c in item.get("capabilities") or []}
        reason = None
        for restriction in item.get("restrictions") or []:
            if restriction.get("type") != "Location":
                continue
            where = [v.lower() for v in (restriction.get("values") or [])]
            if location is None or not where or location.lower() in where:
                reason = restriction.get("reasonCode") or "Restricted"
        catalog = size_catalog.lookup(item["name"])
        return cls(
            name=item["name"],
            vcpus=_int(caps.get("vCPUs")),
            family=item.get("family") or (catalog.family if catalog else ""),
            temp_disk_gb=_int(caps.get("MaxResourceVolumeMB")) // 1024,
            generations=tuple(g.strip() for g in caps.get("HyperVGenerations", "V1").split(",") if g.strip()),
            restricted_reason=reason,
            accelerated_networking=caps.get("AcceleratedNetworkingEnabled", "False").lower() == "true",
            gpus=_int(caps.get("GPUs")),
            premium_io=caps.get("PremiumIO", "False").lower() == "true",
            retired=catalog.retired if catalog else None,
        )


@dataclass(frozen=True)
class QuotaInfo:
    """One usages item: a quota family's vCPU limit and current use in one region."""

    family: str
    limit: int
    current: int

    @property
    def free(self) -> int:
        return self.limit - self.current

    @classmethod
    def from_usage(cls, item: dict[str, Any]) -> QuotaInfo:
        name = item.get("name") or {}
        return cls(family=name.get("value", ""), limit=int(item.get("limit", 0)),
                   current=int(item.get("currentValue", 0)))


def quotas_by_family(usages: list[dict[str, Any]]) -> dict[str, QuotaInfo]:
    """The usages API's `value` list, keyed by family name (as preflight wants it)."""
    infos = (QuotaInfo.from_usage(item) for item in usages)
    return {info.family: info for info in infos}


def catalog_skus() -> dict[str, SkuInfo]:
    """Every current catalog size, as if a region offered them all (offline checks)."""
    return {s.name: SkuInfo.from_catalog(s) for s in size_catalog.SIZES.values() if not s.retired}


class PreflightError(UsageError):
    """The spec cannot be deployed as it is; carries every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        body = "\n".join(f"  - {p.field + ': ' if p.field else ''}{p}" for p in problems)
        super().__init__(f"preflight found {count}; nothing was created:\n{body}")
        self.problems = problems


def raise_for(problems: list[Problem]) -> None:
    """Raise PreflightError listing every error; warnings alone do not stop anything."""
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise PreflightError(errors)


def preflight(spec: EnvironmentSpec, *, offered_sizes: dict[str, SkuInfo] | None = None,
              quota: dict[str, QuotaInfo] | None = None, existing_nodes: int = 0) -> list[Problem]:
    """Every reason `spec` would fail to deploy, or to resize to its GPU size later.

    A fleet needs spec.nodes x the size's vCPUs; `existing_nodes` already hold theirs.

    offered_sizes: the sizes resourceSkus lists for spec.location (None: the bundled catalog).
    quota: usages for spec.location by family (None or empty: quota is not checked).
    """
    region = offered_sizes if offered_sizes is not None else catalog_skus()
    offered = {name.lower(): sku for name, sku in region.items()}  # ARM size names ignore case
    quota = {family.lower(): info for family, info in (quota or {}).items()}
    image = spec.image_info
    problems: list[Problem] = []

    sizes: dict[str, SkuInfo] = {}
    for field, name in (("size", spec.size), ("gpu_size", spec.gpu_size)):
        if name is None:
            continue
        found = _check_offered(field, name, spec.location, offered, problems)
        if found is not None:
            sizes[field] = found
            _check_generation(field, found, image, problems)

    cpu, gpu = sizes.get("size"), sizes.get("gpu_size")
    if cpu is not None and gpu is not None and "temp-disk-pairing" in size_catalog.resize_obstacles(cpu, gpu):
        problems.append(temp_disk_problem(cpu, gpu))  # the generation half: each size against the image, above
    if cpu is not None and spec.os_disk_type == "Premium_LRS" and not cpu.premium_io:
        problems.append(Problem("premium-storage", f"{cpu.name} cannot use Premium_LRS disks",
                                "set os_disk_type = \"StandardSSD_LRS\", or pick a size with premium storage "
                                "(an 's' in its name, e.g. Standard_D4ds_v5)", "os_disk_type"))
    if quota:
        if cpu is not None:
            problems += _quota_problems("size", cpu, spec, quota, severity="error", existing_nodes=existing_nodes)
        if gpu is not None:
            # Needed only at the GPU run, but failing then (after provisioning) is what users hate.
            problems += _quota_problems("gpu_size", gpu, spec, quota, severity="warning",
                                        existing_nodes=existing_nodes)
    if spec.os == "windows" and len(spec.name) > 15:
        from ..spec import shorter_windows_name
        problems.append(Problem("windows-computer-name",
                                f"{spec.name!r} is {len(spec.name)} characters; Windows computer names have at most 15",
                                f"use name {shorter_windows_name(spec.name)!r}", "name"))
    return problems


# --- the individual rules (resize_plan reuses the message builders) -------------------------------


def temp_disk_problem(current: SkuInfo, target: SkuInfo, *, resize: bool = False) -> Problem:
    """Azure never resizes between sizes with and without a local temp disk, in either direction.

    The fix names the size to use instead: the one most like the size that is "wrong".
    """
    if not current.has_temp_disk:
        partner = temp_disk_partner(current)
        message = f"{current.name} has no temp disk, so it can never be resized to {target.name}"
        field = "size"
        if resize:
            fix = (f"recreate the VM on {partner or 'a size with a temp disk'} from its OS disk; "
                   "no resize can add a temp disk")
        else:
            fix = f"use {partner}" if partner else "use a size with a temp disk (a 'd' in the name)"
    else:
        partner = temp_disk_partner(target, exclude=current.name)
        message = (f"{current.name} has a temp disk but {target.name} has none, "
                   f"so it can never be resized to {target.name}")
        field = "size" if resize else "gpu_size"  # resize: the target size argument is at fault
        if resize and temp_disk_partner(target) == current.name:
            # The user asked for the diskless twin of the size they have: say so, and offer the other twin.
            fix = (f"stay on {current.name} (it is {target.name} with a temp disk)"
                   + (f" or resize to {partner}" if partner else "")
                   + "; a size without a temp disk needs a new VM made from the OS disk")
        elif resize:
            fix = (f"resize to {partner} instead" if partner
                   else "pick a size with a temp disk (a 'd' in the name, e.g. Standard_D4ds_v5)")
        else:
            fix = f"use {partner}" if partner else "use a GPU size with a temp disk"
    return Problem("temp-disk-pairing", message, fix, field)


def temp_disk_partner(size: SkuInfo, *, exclude: str | None = None) -> str | None:
    """The catalog size most like `size` (same vCPUs, GPU-ness, memory, hardware) with the other
    temp-disk kind: Standard_D4s_v5 -> Standard_D4ds_v5."""
    original = size_catalog.lookup(size.name)
    candidates = [s for s in size_catalog.CURATED.values()  # the sizes dsvmctl plans with
                  if not s.retired and s.has_temp_disk != size.has_temp_disk and (s.gpus > 0) == (size.gpus > 0)
                  and s.name.lower() != (exclude or "").lower()]
    if not candidates:
        return None

    def likeness(s: size_catalog.Size) -> tuple:
        return (abs(s.vcpus - size.vcpus),
                abs(s.memory_gb - original.memory_gb) if original else 0,
                0 if original and s.cluster == original.cluster else 1,
                s.price_per_hour or 0.0, s.name)

    return min(candidates, key=likeness).name


def generation_problem(sku: SkuInfo, generation: str, what: str, os_name: str, *, field: str | None,
                       resize: bool = False) -> Problem | None:
    """None when `sku` boots `generation`; else the problem, naming an image that would boot."""
    if generation in sku.generations:
        return None
    wanted = "/".join(f"Gen{g[1:]}" for g in sku.generations) or "no generation"
    only = "only " if len(sku.generations) == 1 else ""
    message = f"{sku.name} boots {only}Hyper-V {wanted} but {what} is Gen{generation[1:]}"
    images = [i.alias for i in image_catalog.IMAGES
              if i.os == os_name and not i.retired and i.generation in sku.generations]
    if resize:
        fix = (f"recreate the VM from a Gen{sku.generations[-1][1:]} image ({images[0]}), or pick a size that "
               f"boots Gen{generation[1:]}" if images else f"pick a size that boots Gen{generation[1:]}")
    else:
        fix = f"use image {images[0]}" if images else f"pick a size that boots Gen{generation[1:]}"
    return Problem("hyperv-generation", message, fix, field)


def quota_problem(sku: SkuInfo, needed: int, info: QuotaInfo, location: str | None, *,
                  field: str | None, severity: Literal["error", "warning"] = "error",
                  freed: int = 0, label: str | None = None, nodes: int = 1) -> Problem | None:
    """None when `needed` vCPUs fit in the quota (`freed`: vCPUs this VM already holds there)."""
    free = info.limit - info.current + freed
    if needed <= free:
        return None
    where = f" in {location}" if location else ""
    held = f", {freed} of them this VM's own" if freed else ""
    what = f"{nodes} x {sku.name} ({sku.vcpus} vCPUs each)" if nodes > 1 else sku.name
    message = (f"{what} needs {needed} vCPUs of {label or info.family} quota{where}, but only {max(free, 0)} "
               f"are free (limit {info.limit}, in use {info.current}{held}); short by {needed - free}")
    new_limit = info.current - freed + needed
    fix = (f"request a quota increase for {label or info.family}{where} to at least {new_limit} vCPUs: "
           f"{QUOTA_REQUEST_URL}")
    return Problem("quota", message, fix, field, severity)


def alternatives(size: SkuInfo | size_catalog.Size | None, offered: dict[str, SkuInfo], *,
                 name: str = "", count: int = 3) -> list[str]:
    """Offered, unrestricted sizes nearest to `size`: same temp-disk kind, GPU-ness, close vCPUs."""
    usable = [s for s in offered.values() if not s.restricted_reason and not s.retired]
    if size is None:
        import difflib
        return difflib.get_close_matches(name, [s.name for s in usable], n=count, cutoff=0.4)
    gpu = size.gpus > 0
    near = [s for s in usable if s.name.lower() != size.name.lower()
            and s.has_temp_disk == (size.temp_disk_gb > 0) and (s.gpus > 0) == gpu]
    import difflib

    def likeness(s) -> tuple:
        # Close vCPUs first, then the same generation (_v5) and the most similar name (D4ds_v5 ~ D4ads_v5).
        same_version = s.name.lower().rsplit("_", 1)[-1] == size.name.lower().rsplit("_", 1)[-1]
        return (abs(s.vcpus - size.vcpus), not same_version,
                -difflib.SequenceMatcher(None, s.name.lower(), size.name.lower()).ratio(), s.name)

    near.sort(key=likeness)
    return [s.name for s in near[:count]]


# --- helpers -------------------------------------------------------------------------------------


def _check_offered(field: str, name: str, location: str, offered: dict[str, SkuInfo],
                   problems: list[Problem]) -> SkuInfo | None:
    """The size's SKU info when it can be checked further, recording why it cannot be used."""
    sku = offered.get(name.lower())
    known = size_catalog.lookup(name)
    if known is not None and known.retired:
        instead = ", ".join(alternatives(known, offered)) or "a current size"
        problems.append(Problem("retired-size",
                                f"{known.name} was retired on {known.retired}; Azure no longer offers it",
                                f"use {instead}", field))
        return None
    if sku is None:
        if known is None:
            close = alternatives(None, offered, name=name)
            guess = f": did you mean {' or '.join(close)}?" if close else ""
            problems.append(Problem("unknown-size", f"{name} is not a VM size offered in {location}",
                                    f"check the spelling{guess}", field))
            return None
        instead = ", ".join(alternatives(known, offered))
        problems.append(Problem("size-not-offered", f"{known.name} is not offered in {location}",
                                f"use {instead}, or another region that offers {known.name}" if instead
                                else f"use another region that offers {known.name}", field))
        return SkuInfo.from_catalog(known)  # its other rules still apply wherever it is deployed
    if sku.restricted_reason:
        instead = ", ".join(alternatives(sku, offered))
        why = {"NotAvailableForSubscription": "is not available to your subscription",
               "QuotaId": "is not available to your subscription's offer type"}.get(sku.restricted_reason,
                                                                                    "is restricted")
        problems.append(Problem("size-restricted", f"{sku.name} {why} in {location} ({sku.restricted_reason})",
                                (f"use {instead}, " if instead else "") + "try another region, or ask Azure support "
                                f"to enable {sku.name} for the subscription", field))
    return sku


def _check_generation(field: str, sku: SkuInfo, image: image_catalog.Image, problems: list[Problem]) -> None:
    problem = generation_problem(sku, image.generation, image.alias, image.os, field=field)
    if problem is not None:
        problems.append(problem)


def _quota_problems(field: str, sku: SkuInfo, spec: EnvironmentSpec, quota: dict[str, QuotaInfo], *,
                    severity: Literal["error", "warning"], existing_nodes: int = 0) -> list[Problem]:
    checks = [(SPOT_CORES, "Total Regional Low-priority vCPUs")] if spec.spot else \
        [(sku.family, None), (REGIONAL_CORES, "Total Regional vCPUs")]
    problems = []
    for family, label in checks:
        info = quota.get(family.lower())
        if info is None:
            continue  # not reported by usages: nothing to compare against
        new_nodes = max(0, spec.nodes - existing_nodes)
        if new_nodes == 0:
            continue  # shrinking or unchanged: nothing new to allocate
        problem = quota_problem(sku, sku.vcpus * new_nodes, info, spec.location, field=field, severity=severity,
                                label=label, nodes=new_nodes)
        if problem is not None:
            problems.append(problem)
    return problems


def _int(value: str | None) -> int:
    try:
        return int(float(value)) if value else 0
    except ValueError:
        return 0
