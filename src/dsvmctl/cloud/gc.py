"""Orphans: resources dsvmctl tagged for a machine whose VM no longer exists (an interrupted up,
a VM deleted by hand, a kept disk nobody came back for)."""

from __future__ import annotations

from typing import Any, Callable

from .azure_errors import azure_call
from .backend import ArmBackend
from .machine import DELETE_ORDER


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
    from azure.core.exceptions import ResourceNotFoundError

    deleted = []
    for orphan in orphans:
        version = "2024-05-01" if orphan["type"].lower().startswith("microsoft.network/") else "2024-07-01"
        if orphan["type"].lower() == "microsoft.devtestlab/schedules":
            version = "2018-09-15"
        progress(f"deleting {orphan['type'].split('/')[-1]} {orphan['name']}")
        try:
            with azure_call(f"deleting {orphan['name']}", missing_ok=True):
                backend.resources.resources.begin_delete_by_id(orphan["id"], api_version=version).result()
        except ResourceNotFoundError:
            pass
        deleted.append(orphan["id"])
    return deleted


def _group(resource_id: str) -> str:
    parts = resource_id.split("/")
    return parts[4].lower() if len(parts) > 4 else ""
