"""Orphans: resources dsvmctl tagged for a machine whose VM no longer exists (an interrupted up,
a VM deleted by hand, a kept disk nobody came back for)."""

from __future__ import annotations

from typing import Any, Callable

from .azure_errors import azure_call
from .backend import ArmBackend
from .machine import DELETE_ORDER, delete_resource


def find_orphans(backend: ArmBackend) -> list[dict[str, Any]]:
    with azure_call("listing resources"):
        items = [r for r in backend.resources.resources.list() if (r.tags or {}).get("dsvmctl-managed") == "true"]
    vms = {(_group(r.id), (r.tags or {}).get("dsvmctl-machine")) for r in items
           if r.type.lower() == "microsoft.compute/virtualmachines"}
    orphans = []
    for r in items:
        machine = (r.tags or {}).get("dsvmctl-machine")
        if r.type.lower() == "microsoft.compute/virtualmachines" or (_group(r.id), machine) in vms:
            continue
        orphans.append({"id": r.id, "type": r.type, "name": r.name, "machine": machine,
                        "resource_group": _group(r.id)})
    rank = {t: i for i, t in enumerate(DELETE_ORDER)}
    return sorted(orphans, key=lambda o: rank.get(o["type"].lower(), len(rank)))


def delete_orphans(backend: ArmBackend, orphans: list[dict[str, Any]],
                   progress: Callable[[str], None] = lambda _: None) -> list[str]:
    deleted = []
    for orphan in orphans:
        progress(f"deleting {orphan['type'].split('/')[-1]} {orphan['name']}")
        delete_resource(backend, orphan["id"], orphan["type"], orphan["name"])
        deleted.append(orphan["id"])
    return deleted


def _group(resource_id: str) -> str:
    parts = resource_id.split("/")
    return parts[4].lower() if len(parts) > 4 else ""
