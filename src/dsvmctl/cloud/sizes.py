"""The sizes a region offers, with what dsvmctl knows of each: `dsvmctl sizes` formats this.

    listing = region_sizes(cloud.backend, "eastus", gpu_only=True)
    for size in listing.sizes: size.name, size.gpu_partners, size.quota_left

Offered sizes and quota come from Azure (resourceSkus, usages); memory, GPU model and price from
the catalog; a CPU size's GPU partners from the catalog's one resize-partner rule
(catalog/sizes.py `gpu_partners`), applied to the sizes the region offers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from .backend import ArmBackend


@dataclass(frozen=True)
class RegionSize:
    name: str
    vcpus: int
    memory_gb: float | None  # None: a size the catalog does not know
    gpus: int
    gpu_model: str | None
    temp_disk_gb: int
    generations: list[str]  # Hyper-V generations it boots: "V1", "V2"
    price_per_hour: float | None
    quota_left: int | None  # vCPUs free in the size's family; None: the region reports no quota for it
    restricted: str | None  # why the subscription may not use it (resourceSkus restrictions)
    gpu_partners: list[str]  # the offered GPU sizes a VM of this (CPU) size can be resized to


@dataclass(frozen=True)
class RegionSizes:
    location: str
    sizes: list[RegionSize]  # CPU sizes first, then by vCPUs and name
    prices_source: str
    prices_as_of: str

    def to_json(self) -> dict[str, Any]:
        return {"location": self.location, "sizes": [asdict(size) for size in self.sizes],
                "prices": {"source": self.prices_source, "as_of": self.prices_as_of}}


def region_sizes(backend: ArmBackend, location: str, *, gpu_only: bool = False) -> RegionSizes:
    """The sizes `location` offers (only those with a GPU, with gpu_only): GETs only."""
    from ..catalog.sizes import PRICES_AS_OF, PRICES_SOURCE, SIZES, gpu_partners
    from .provision import region_facts

    offered, quota = region_facts(backend, location)
    rows = []
    for name, sku in sorted(offered.items(), key=lambda kv: (kv[1].gpus, kv[1].vcpus, kv[0])):
        if gpu_only and not sku.gpus:
            continue
        known = SIZES.get(name)
        family = quota.get(sku.family)
        rows.append(RegionSize(
            name=name, vcpus=sku.vcpus, memory_gb=known.memory_gb if known else None, gpus=sku.gpus,
            gpu_model=known.gpu_model if known else None, temp_disk_gb=sku.temp_disk_gb,
            generations=list(sku.generations), price_per_hour=known.price_per_hour if known else None,
            quota_left=family.free if family else None, restricted=sku.restricted_reason,
            gpu_partners=gpu_partners(sku, offered.values())))
    return RegionSizes(location, rows, PRICES_SOURCE, PRICES_AS_OF)
