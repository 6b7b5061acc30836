"""Marketplace images: the Data Science VM images (publisher microsoft-dsvm) with the aliases
dsvmctl users type for them, and Azure's marketplace listing from the bundled catalog data
(publishers, offers, SKUs, versions and the alias document `az vm create` reads)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .sizes import catalog_data

DSVM_PUBLISHER = "microsoft-dsvm"


@dataclass(frozen=True)
class Image:
    alias: str
    publisher: str
    offer: str
    sku: str
    os: str  # "linux" | "windows"
    generation: str  # "V1" | "V2"
    description: str
    versions: tuple[str, ...] = ("24.10.01", "25.05.12", "25.10.20")
    retired: str | None = None

    @property
    def urn(self) -> str:
        return f"{self.publisher}:{self.offer}:{self.sku}:latest"


IMAGES: tuple[Image, ...] = (
    Image("ubuntu-2204", DSVM_PUBLISHER, "ubuntu-2204", "2204-gen2", "linux", "V2", "Ubuntu 22.04 DSVM (current)"),
    Image("ubuntu-2004", DSVM_PUBLISHER, "ubuntu-2004", "2004-gen2", "linux", "V2", "Ubuntu 20.04 DSVM, Gen2"),
    Image("ubuntu-2004-gen1", DSVM_PUBLISHER, "ubuntu-2004", "2004", "linux", "V1", "Ubuntu 20.04 DSVM, Gen1"),
    Image("win-2022", DSVM_PUBLISHER, "dsvm-win-2022", "winserver-2022", "windows", "V2", "Windows Server 2022 DSVM"),
    Image("win-2019", DSVM_PUBLISHER, "dsvm-win-2019", "winserver-2019", "windows", "V1", "Windows Server 2019 DSVM"),
    Image("ubuntu-1804", DSVM_PUBLISHER, "ubuntu-1804", "1804-gen2", "linux", "V2", "Ubuntu 18.04 DSVM (retired)", versions=(), retired="2022"),
)


def find_image(publisher: str, offer: str, sku: str) -> Image | None:
    key = (publisher.lower(), offer.lower(), sku.lower())
    return next((i for i in IMAGES if (i.publisher.lower(), i.offer.lower(), i.sku.lower()) == key), None)


def resolve_alias(alias_or_urn: str) -> Image | None:
    """`ubuntu-2204` or `microsoft-dsvm:ubuntu-2204:2204-gen2:latest` -> Image (None if unknown)."""
    text = alias_or_urn.strip()
    for image in IMAGES:
        if image.alias == text.lower():
            return image
    parts = text.split(":")
    if len(parts) in (3, 4):
        return find_image(*parts[:3])
    return None


# -- the marketplace, from data/catalog.json -------------------------------------------------------------

def publishers() -> list[str]:
    return catalog_data()["images"]["publishers"]


def _match(names, wanted: str) -> str | None:
    return next((n for n in names if n.lower() == wanted.lower()), None)


def offers(publisher: str) -> dict[str, dict[str, Any]] | None:
    """The publisher's offers (offer -> sku -> facts); None when the catalog has no listing for it."""
    listed = catalog_data()["images"]["offers"]
    name = _match(listed, publisher)
    return listed[name] if name else None


def canonical_publisher(publisher: str) -> str | None:
    return _match(catalog_data()["images"]["offers"], publisher) or _match(publishers(), publisher)


def skus(publisher: str, offer: str) -> dict[str, dict[str, Any]] | None:
    listed = offers(publisher) or {}
    name = _match(listed, offer)
    return listed[name] if name else None


def sku_facts(publisher: str, offer: str, sku: str) -> tuple[str, str, str, dict[str, Any]] | None:
    """(publisher, offer, sku) in Azure's casing and the SKU's facts (versions, generation, ...)."""
    pub = canonical_publisher(publisher)
    listed = offers(publisher) or {}
    offer_name = _match(listed, offer)
    if pub is None or offer_name is None:
        return None
    sku_name = _match(listed[offer_name], sku)
    return (pub, offer_name, sku_name, listed[offer_name][sku_name]) if sku_name else None


def version_key(version: str) -> list:
    return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"[.]", version)]


def os_of(publisher: str, offer: str) -> str:
    text = f"{publisher} {offer}".lower()
    return "Windows" if "windows" in text or "-win-" in text or offer.lower().startswith("dsvm-win") else "Linux"


def vm_image_alias_doc() -> dict[str, Any]:
    """The aliases document (UbuntuLTS, Win2022Datacenter, ...) as `az vm create --image` reads it."""
    return catalog_data()["aliases"]
