"""Microsoft.Resources/deployments: filled in by the ARM engine work (issue 3)."""

from __future__ import annotations


def add_routes(provider) -> None:
    return None
