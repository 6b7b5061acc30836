"""Data Science VM images (publisher microsoft-dsvm) and the aliases users type for them."""

from __future__ import annotations

from dataclasses import dataclass

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
