"""Microsoft.Compute dedicated hosts: host groups and the hosts inside them.

As the recorded traffic shows them: a host group is written synchronously (201/200) and lists
its hosts' ids on GET; a host PUT answers 201 (200 on update) `Creating`/`Updating` with an
Azure-AsyncOperation, its DELETE 202 with Azure-AsyncOperation and Location; a host finished
provisioning carries `provisioningTime` and the VMs placed on it (none: the emulator places
VMs on shared hardware).
"""

from __future__ import annotations

import uuid
from typing import Any

from ...core import utc_now
from ...routing import Call
from ...wire import ArmError, Response, missing_property, not_found
from ..common import begin_put, check_name, get_or_404, list_response, lister, properties_of, tracked_body

NS = "Microsoft.Compute"
GROUP_TYPE = f"{NS}/hostGroups"
HOST_TYPE = f"{NS}/hostGroups/hosts"


def add_routes(provider) -> None:
    provider.route_kind("hostGroups", "group", lister(GROUP_TYPE),
                        PUT=put_group, PATCH=patch_group, GET=get_group, DELETE=delete_group)
    provider.route_methods("rg", "hostGroups/{group}/hosts/{host}", PUT=lambda call: put_host(provider, call),
                           GET=get_host, DELETE=lambda call: delete_host(provider, call))
    provider.route("GET", "rg", "hostGroups/{group}/hosts", list_hosts)


def register_finalizers(em) -> None:
    em.finalizers.update({"compute.host_written": _finish_host_written, "compute.host_deleted": _finish_host_deleted})


# -- host groups ---------------------------------------------------------------------------------------------

def _group_id(call: Call) -> str:
    return call.resource_id("hostGroups", call.params["group"])


def _group(call: Call) -> dict[str, Any]:
    return get_or_404(call, _group_id(call), GROUP_TYPE, call.params["group"])


def put_group(call: Call) -> Response:
    existing, body, props = begin_put(call, GROUP_TYPE, _group_id(call), call.params["group"])
    count = props.get("platformFaultDomainCount", ((existing or {}).get("properties") or {}).get(
        "platformFaultDomainCount"))
    if count is None:
        raise missing_property("platformFaultDomainCount")
    if not isinstance(count, int) or not 1 <= count <= 3:
        raise ArmError(400, "InvalidParameter", f"The specified fault domain count {count} must fall in the range 1 "
                       "to 3.", target="platformFaultDomainCount")
    body["properties"] = {"platformFaultDomainCount": count,
                          "supportAutomaticPlacement": bool(props.get("supportAutomaticPlacement", False))}
    if "zones" in call.body_object():
        body["zones"] = call.body_object()["zones"]
    call.em.put(body)
    return Response(200 if existing else 201, call.em.public(body))


def patch_group(call: Call) -> Response:
    group = _group(call)
    patch = call.body_object()
    if "tags" in patch:
        group["tags"] = patch["tags"]
    if "supportAutomaticPlacement" in (patch.get("properties") or {}):
        group["properties"]["supportAutomaticPlacement"] = bool(patch["properties"]["supportAutomaticPlacement"])
    return Response(200, call.em.public(group))


def get_group(call: Call) -> Response:
    out = call.em.public(_group(call))
    out["properties"]["hosts"] = [{"id": h["id"]} for h in _hosts_of(call)]
    return Response(200, out)


def delete_group(call: Call) -> Response:
    group = call.em.get(_group_id(call))
    if group is None:
        return Response(204)
    if _hosts_of(call):
        raise ArmError(409, "CannotDeleteResource", "Can not delete resource before nested resources are deleted.")
    call.em.delete(group["id"])
    return Response(200)


# -- hosts -----------------------------------------------------------------------------------------------------

def _host_id(call: Call) -> str:
    return f"{_group_id(call)}/hosts/{call.params['host']}"


def _hosts_of(call: Call) -> list[dict[str, Any]]:
    prefix = _group_id(call).lower() + "/hosts/"
    return [b for k, b in call.em.resources.items() if k.startswith(prefix)]


def put_host(provider, call: Call) -> Response:
    group = _group(call)
    name = call.params["host"]
    check_name(name)
    existing = call.em.get(_host_id(call))
    body = tracked_body(call, HOST_TYPE, name, _host_id(call), existing)
    sku = (call.body_object().get("sku") or {}).get("name") or ((existing or {}).get("sku") or {}).get("name")
    if not sku:
        raise missing_property("sku.name")
    props = properties_of(call)
    old = (existing or {}).get("properties") or {}
    domain = props.get("platformFaultDomain", old.get("platformFaultDomain", 0))
    count = group["properties"]["platformFaultDomainCount"]
    if not isinstance(domain, int) or not 0 <= domain < count:
        raise ArmError(400, "InvalidParameter", f"The specified platform fault domain {domain} must be less than "
                       f"the platform fault domain count {count} of the dedicated host group.",
                       target="platformFaultDomain")
    body["sku"] = {"name": sku}
    body["properties"] = {
        "platformFaultDomain": domain,
        "autoReplaceOnFailure": bool(props.get("autoReplaceOnFailure", old.get("autoReplaceOnFailure", True))),
        "hostId": old.get("hostId") or str(uuid.uuid4()),
        **({"provisioningTime": old["provisioningTime"]} if "provisioningTime" in old else {}),
        "provisioningState": "Updating" if existing else "Creating",
        "timeCreated": old.get("timeCreated") or utc_now(),
    }
    if props.get("licenseType"):
        body["properties"]["licenseType"] = props["licenseType"]
    call.em.put(body)
    op = call.em.start_operation("microsoft.compute", body["location"], "compute.host_written", host_id=body["id"])
    return Response(200 if existing else 201, call.em.public(body), provider._async_headers(call, op))


def get_host(call: Call) -> Response:
    _group(call)
    host = call.em.get(_host_id(call))
    if host is None:
        raise not_found(HOST_TYPE, f"{call.params['group']}/{call.params['host']}", call.resource_group or "")
    return Response(200, call.em.public(host))


def list_hosts(call: Call) -> Response:
    _group(call)
    return list_response([call.em.public(h) for h in _hosts_of(call)])


def delete_host(provider, call: Call) -> Response:
    _group(call)
    host = call.em.get(_host_id(call))
    if host is None:
        return Response(204)
    return provider._deletion_accepted(call, host, "compute.host_deleted", host_id=host["id"])


def _finish_host_written(em, op) -> None:
    host = em.get(op.args["host_id"])
    if host is None:
        return
    props = host["properties"]
    props["provisioningState"] = "Succeeded"
    props.setdefault("provisioningTime", utc_now())
    props["virtualMachines"] = []


def _finish_host_deleted(em, op) -> None:
    em.delete(op.args["host_id"])
