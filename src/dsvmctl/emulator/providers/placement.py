"""Microsoft.Compute/proximityPlacementGroups: the minimal piece a dsvmctl fleet needs.

A fleet's nodes share one proximity placement group (low latency between them). The emulator
keeps the group as a tracked resource and lists the VMs in it; it does not model placement
itself (there is no datacenter to pack). Routes join the Microsoft.Compute provider (see
`add_routes`), since the emulator keeps one provider per namespace.
"""

from __future__ import annotations

from ..routing import Call
from ..wire import ArmError, Response
from .common import check_name, get_or_404, list_response, properties_of, tracked_body

PPG_TYPE = "Microsoft.Compute/proximityPlacementGroups"
GROUP_TYPES = ("Standard", "Ultra")


def add_routes(provider) -> None:
    r = provider.route
    r("PUT", "rg", "proximityPlacementGroups/{ppg}", put_ppg)
    r("GET", "rg", "proximityPlacementGroups/{ppg}", get_ppg)
    r("DELETE", "rg", "proximityPlacementGroups/{ppg}", delete_ppg)
    r("GET", "rg", "proximityPlacementGroups", list_ppgs)


def _id(call: Call) -> str:
    return call.resource_id("proximityPlacementGroups", call.params["ppg"])


def _members(call: Call, ppg_id: str) -> list[dict[str, str]]:
    vms = call.em.find("Microsoft.Compute/virtualMachines", resource_group=call.resource_group)
    return [{"id": vm["id"]} for vm in vms
            if ((vm.get("properties") or {}).get("proximityPlacementGroup") or {}).get("id", "").lower()
            == ppg_id.lower()]


def _view(call: Call, body: dict) -> dict:
    public = call.em.public(body)
    public["properties"] = {**public.get("properties", {}), "virtualMachines": _members(call, body["id"])}
    return public


def put_ppg(call: Call) -> Response:
    name = call.params["ppg"]
    check_name(name)
    existing = call.em.get(_id(call))
    body = tracked_body(call, PPG_TYPE, name, existing["id"] if existing else _id(call), existing)
    body.setdefault("tags", {})
    props = properties_of(call)
    kind = props.get("proximityPlacementGroupType", "Standard")
    if kind not in GROUP_TYPES:
        raise ArmError(400, "InvalidParameter", f"The value '{kind}' of parameter 'proximityPlacementGroupType' "
                       f"is not allowed. Allowed values are: {', '.join(GROUP_TYPES)}.",
                       target="properties.proximityPlacementGroupType")
    body["properties"] = {"proximityPlacementGroupType": kind}
    call.em.put(body)
    return Response(200 if existing else 201, _view(call, body))


def get_ppg(call: Call) -> Response:
    return Response(200, _view(call, get_or_404(call, _id(call), PPG_TYPE, call.params["ppg"])))


def delete_ppg(call: Call) -> Response:
    body = call.em.get(_id(call))
    if body is None:
        return Response(204)
    if _members(call, body["id"]):
        raise ArmError(409, "ProximityPlacementGroupInUse",
                       f"Proximity placement group {call.params['ppg']} cannot be deleted: virtual machines "
                       "still reference it. Delete them first.")
    call.em.delete(body["id"])
    return Response(200)


def list_ppgs(call: Call) -> Response:
    return list_response([_view(call, b) for b in call.em.find(PPG_TYPE, resource_group=call.resource_group)])
