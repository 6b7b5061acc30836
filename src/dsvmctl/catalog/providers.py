"""Resource providers' registration metadata from the bundled catalog data: the first-party
applications a namespace authorizes and each resource type's apiProfiles (the api-version each
Azure Stack profile pins) and availability zones per region, as Azure's GET /providers answered."""

from __future__ import annotations

from typing import Any

from .sizes import catalog_data


def authorizations(namespace: str) -> list[dict[str, str]]:
    return [dict(a) for a in _entry(namespace).get("authorizations", [])]


def api_profiles(namespace: str, resource_type: str) -> list[dict[str, str]]:
    profiles = _entry(namespace).get("apiProfiles", {})
    match = next((t for t in profiles if t.lower() == resource_type.lower()), None)
    return [dict(p) for p in profiles[match]] if match else []


def zone_mappings(namespace: str, resource_type: str, locations: list[str]) -> list[dict[str, Any]]:
    """The type's availability zones in each of `locations` (display names) that has them."""
    mappings = _entry(namespace).get("zoneMappings", {})
    match = next((t for t in mappings if t.lower() == resource_type.lower()), None)
    wanted = {name.lower() for name in locations}
    return [{"location": m["location"], "zones": list(m["zones"])} for m in mappings.get(match, [])
            if m["location"].lower() in wanted]


def _entry(namespace: str) -> dict[str, Any]:
    providers = catalog_data().get("providers", {})
    return next((v for k, v in providers.items() if k.lower() == namespace.lower()), {})
