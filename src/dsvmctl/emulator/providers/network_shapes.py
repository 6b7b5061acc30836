"""Microsoft.Network resources whose rules are mostly their shape: load balancers and their
child resources, application security groups, route tables and routes, DDoS protection plans,
NAT gateways, IP groups, network profiles, public IP prefixes and virtual network gateways
(what those two compute: network_gateways), VNet peerings.

Each kind is a table entry: the computed fields Azure always returns and the child lists it
holds inline (each child gets id, name, etag, type and provisioningState, and is also
addressable as `{parent}/{children}/{name}`). The verbs (PUT with Azure-AsyncOperation, GET,
PATCH tags, DELETE 202 / 204 when missing, list) are the Network provider's own.
"""

from __future__ import annotations

import uuid
from typing import Any

from ..routing import Call
from ..wire import ArmError, Response, not_found
from . import network_queries
from .common import check_name, find_child, list_response, new_etag, properties_of
from .network_fields import complete
from .network_gateways import EXTRA_BUILDERS
from .network_links import present, present_child

NS = "Microsoft.Network"

# kind -> (computed top-level properties, inline child lists, sku default)
KINDS: dict[str, tuple[dict[str, Any], tuple[str, ...], dict[str, str] | None]] = {
    "loadBalancers": ({"frontendIPConfigurations": [], "backendAddressPools": [], "loadBalancingRules": [],
                       "probes": [], "inboundNatRules": [], "inboundNatPools": [], "outboundRules": []},
                      ("frontendIPConfigurations", "backendAddressPools", "loadBalancingRules", "probes",
                       "inboundNatRules", "inboundNatPools", "outboundRules"), {"name": "Basic", "tier": "Regional"}),
    "applicationSecurityGroups": ({}, (), None),
    "routeTables": ({"disableBgpRoutePropagation": False, "routes": []}, ("routes",), None),
    "ddosProtectionPlans": ({}, (), None),
    "natGateways": ({"idleTimeoutInMinutes": 4}, (), {"name": "Standard"}),
    "ipGroups": ({"ipAddresses": [], "firewalls": [], "firewallPolicies": []}, (), None),
    "networkProfiles": ({"containerNetworkInterfaces": [], "containerNetworkInterfaceConfigurations": []}, (), None),
    "publicIPPrefixes": ({"ipTags": []}, (), {"name": "Standard", "tier": "Regional"}),
    "virtualNetworkGateways": ({}, (), None),  # its IP configurations are built with it (network_gateways)
}
NO_GUID = {"applicationSecurityGroups", "ddosProtectionPlans", "ipGroups"}
CHILD_DEFAULTS = {
    "routes": {"hasBgpOverride": False},
    "probes": {"intervalInSeconds": 15, "numberOfProbes": 2, "probeThreshold": 1},
    "loadBalancingRules": {"enableFloatingIP": False, "idleTimeoutInMinutes": 4, "enableTcpReset": False,
                           "loadDistribution": "Default", "disableOutboundSnat": False},
    "inboundNatRules": {"enableFloatingIP": False, "idleTimeoutInMinutes": 4, "enableTcpReset": False},
    "frontendIPConfigurations": {"privateIPAllocationMethod": "Dynamic", "privateIPAddressVersion": "IPv4"},
}
PEERING_DEFAULTS = {"allowVirtualNetworkAccess": True, "allowForwardedTraffic": False, "allowGatewayTransit": False,
                    "useRemoteGateways": False, "doNotVerifyRemoteGateways": False, "peerCompleteVnets": True,
                    "routeServiceVips": {}}


def add_routes(provider) -> None:
    """Called by the Network provider: the kinds above, their children, peerings."""
    for kind, (_computed, children, _sku) in KINDS.items():
        build = _builder(kind)
        provider.route("PUT", "rg", f"{kind}/{{name}}", provider._writer(kind, build))
        provider.route("GET", "rg", f"{kind}/{{name}}", provider._getter(kind))
        provider.route("DELETE", "rg", f"{kind}/{{name}}", provider._deleter(kind))
        provider.route("PATCH", "rg", f"{kind}/{{name}}", provider._tags_patcher(kind))
        provider.route("GET", "rg", kind, provider._lister(kind))
        provider.route("GET", "sub", kind, provider._lister(kind, whole_subscription=True))
        for child in children:
            _child_routes(provider, kind, child)
    _child_routes(provider, "virtualNetworks", "virtualNetworkPeerings")
    network_queries.add_routes(provider)


# -- parents ---------------------------------------------------------------------------------------------

def _builder(kind: str):
    computed, children, sku = KINDS[kind]

    def build(call: Call, body: dict[str, Any], props: dict[str, Any], existing) -> None:
        old = (existing or {}).get("properties") or {}
        out = {**_deep(computed), **props}
        if kind not in NO_GUID:
            out["resourceGuid"] = old.get("resourceGuid") or str(uuid.uuid4())
        for child in children:
            out[child] = [_child_item(body["id"], kind, child, raw, index) for index, raw in
                          enumerate(out.get(child) or [])]
        if kind == "loadBalancers":
            _link_lb(out)
            _keep_backends(old, out)
        body["properties"] = out
        if kind in EXTRA_BUILDERS:
            EXTRA_BUILDERS[kind](call, body, old)
        wanted = call.body_object().get("sku")
        if sku is not None or wanted:
            body["sku"] = {**(sku or {}), **(wanted or {})}
        if "zones" in call.body_object():
            body["zones"] = call.body_object()["zones"]
    return build


def _deep(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _deep(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep(v) for v in value]
    return value


def _child_item(parent_id: str, kind: str, child: str, raw: Any, index: int) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ArmError(400, "InvalidRequestFormat", f"Cannot parse the request: properties.{child}[{index}] must be "
                       "an object.", target=f"properties.{child}[{index}]")
    name = raw.get("name") or (raw.get("id") or "").rstrip("/").rsplit("/", 1)[-1]
    if not name:
        raise ArmError(400, "InvalidRequestFormat", f"Cannot parse the request: every item of {child} needs a name.",
                       target=f"properties.{child}[{index}].name")
    props = {**CHILD_DEFAULTS.get(child, {}), **(raw.get("properties") or {}), "provisioningState": "Succeeded"}
    return {"name": name, "id": f"{parent_id}/{child}/{name}", "etag": new_etag(),
            "type": f"{NS}/{kind}/{child}", "properties": props}


def _link_lb(props: dict[str, Any]) -> None:
    """The back-references Azure adds: frontends, pools and probes list the rules that use them."""
    by_id = {item["id"].lower(): item for child in ("frontendIPConfigurations", "backendAddressPools", "probes")
             for item in props.get(child, [])}
    for item in by_id.values():
        for key in ("loadBalancingRules", "inboundNatRules", "outboundRules", "inboundNatPools"):
            item["properties"].pop(key, None)
    for rule in props.get("loadBalancingRules", []):
        # One pool named either way is both: Azure answers with the singular and the list.
        rp = rule["properties"]
        if rp.get("backendAddressPools") and not rp.get("backendAddressPool"):
            rp["backendAddressPool"] = rp["backendAddressPools"][0]
        elif rp.get("backendAddressPool") and not rp.get("backendAddressPools"):
            rp["backendAddressPools"] = [rp["backendAddressPool"]]
    for rule_kind in ("loadBalancingRules", "inboundNatRules", "outboundRules", "inboundNatPools"):
        for rule in props.get(rule_kind, []):
            rp = rule["properties"]
            refs = [rp.get("frontendIPConfiguration"), rp.get("backendAddressPool"), rp.get("probe")]
            refs += (rp.get("frontendIPConfigurations") or []) + (rp.get("backendAddressPools") or [])
            targets = {str((ref or {}).get("id", "")).lower() for ref in refs if isinstance(ref, dict)}
            for target_id in targets:
                target = by_id.get(target_id)
                if target is not None:
                    target["properties"].setdefault(rule_kind, []).append({"id": rule["id"]})


def _keep_backends(old: dict[str, Any], new: dict[str, Any]) -> None:
    """What NICs point at survives a PUT of the load balancer (read-only, owned by the NICs)."""
    for child, key in (("backendAddressPools", "backendIPConfigurations"),
                       ("inboundNatRules", "backendIPConfiguration")):
        before = {c["name"].lower(): c["properties"].get(key) for c in old.get(child, [])}
        for item in new.get(child, []):
            if before.get(item["name"].lower()):
                item["properties"][key] = before[item["name"].lower()]


def link_backends(em, nic: dict[str, Any]) -> None:
    """A NIC's ipConfigurations name LB backend pools and inbound NAT rules: those list it back."""
    if not nic.get("type", "").lower().endswith("/networkinterfaces"):
        return
    prefix = nic["id"].lower() + "/ipconfigurations/"
    for lb in em.find(f"{NS}/loadBalancers"):
        for pool in lb["properties"].get("backendAddressPools", []):
            links = [c for c in pool["properties"].get("backendIPConfigurations", [])
                     if not c["id"].lower().startswith(prefix)]
            pool["properties"]["backendIPConfigurations"] = links
            if not links:
                pool["properties"].pop("backendIPConfigurations")
        for rule in lb["properties"].get("inboundNatRules", []):
            if str((rule["properties"].get("backendIPConfiguration") or {}).get("id", "")).lower().startswith(prefix):
                rule["properties"].pop("backendIPConfiguration")
    for config in nic["properties"].get("ipConfigurations", []):
        props = config.get("properties") or {}
        for ref in props.get("loadBalancerBackendAddressPools") or []:
            pool = find_child(em, str((ref or {}).get("id", "")))
            if pool is not None:
                pool["properties"].setdefault("backendIPConfigurations", []).append({"id": config["id"]})
        for ref in props.get("loadBalancerInboundNatRules") or []:
            rule = find_child(em, str((ref or {}).get("id", "")))
            if rule is not None:
                rule["properties"]["backendIPConfiguration"] = {"id": config["id"]}


# -- child resources addressed on their own ------------------------------------------------------------

def _child_routes(provider, parent: str, child: str) -> None:
    base = f"{parent}/{{name}}/{child}"

    def holder(call: Call) -> dict[str, Any]:
        name = call.params["name"]
        body = call.em.get(call.resource_id(parent, name))
        if body is None:
            raise not_found(f"{NS}/{parent}", name, call.resource_group or "")
        return body

    def put(call: Call) -> Response:
        owner = holder(call)
        name = call.params["child"]
        check_name(name)
        props = dict(properties_of(call))
        if child == "virtualNetworkPeerings":
            item = _peering(call, owner, name, props)
        else:
            item = _child_item(owner["id"], parent, child, {"name": name, "properties": props}, 0)
        items = owner["properties"].setdefault(child, [])
        created = not any(c["name"].lower() == name.lower() for c in items)
        owner["properties"][child] = [c for c in items if c["name"].lower() != name.lower()] + [item]
        if parent == "loadBalancers":
            _link_lb(owner["properties"])
        complete(owner)  # the new child gets the fields Azure always returns
        owner["etag"] = new_etag()
        op = call.em.start_operation("microsoft.network", owner["location"], "network.succeeded",
                                     resource_id=owner["id"])
        headers = {"Azure-AsyncOperation": call.em.operation_url(call.request.base_url, op, call.api_version)}
        return Response(201 if created else 200, present_child(call.em, owner, item["id"]), headers)

    def get(call: Call) -> Response:
        owner = holder(call)
        item = find_child(call.em, f"{owner['id']}/{child}/{call.params['child']}")
        if item is None:
            raise not_found(f"{NS}/{parent}/{child}", f"{owner['name']}/{call.params['child']}",
                            call.resource_group or "")
        return Response(200, present_child(call.em, owner, item["id"]))

    def delete(call: Call) -> Response:
        owner = holder(call)
        items = owner["properties"].get(child, [])
        kept = [c for c in items if c["name"].lower() != call.params["child"].lower()]
        if len(kept) == len(items):
            return Response(204)
        owner["properties"][child] = kept
        if parent == "loadBalancers":
            _link_lb(owner["properties"])
        op = call.em.start_operation("microsoft.network", owner["location"])
        url = call.em.operation_url(call.request.base_url, op, call.api_version)
        return Response(202, None, {"Azure-AsyncOperation": url,
                                    "Location": url.replace("/operations/", "/operationResults/")})

    def listing(call: Call) -> Response:
        return list_response(present(call.em, holder(call))["properties"].get(child, []))

    provider.route("PUT", "rg", f"{base}/{{child}}", put)
    provider.route("GET", "rg", f"{base}/{{child}}", get)
    provider.route("DELETE", "rg", f"{base}/{{child}}", delete)
    provider.route("GET", "rg", base, listing)


def _peering(call: Call, vnet: dict[str, Any], name: str, props: dict[str, Any]) -> dict[str, Any]:
    remote_id = (props.get("remoteVirtualNetwork") or {}).get("id")
    if not remote_id:
        raise ArmError(400, "InvalidRequestFormat", "Cannot parse the request: remoteVirtualNetwork.id is required.",
                       target="properties.remoteVirtualNetwork")
    remote = call.em.get(remote_id)
    if remote is None:
        raise ArmError(400, "ReferencedResourceNotProvisioned", f"Cannot proceed with operation because resource "
                       f"{remote_id} used by resource {vnet['id']}/virtualNetworkPeerings/{name} is not in Succeeded "
                       "state.")
    space = {"addressPrefixes": list(remote["properties"]["addressSpace"]["addressPrefixes"])}
    # Connected once the remote network peers back; Initiated until then.
    back = any(str((p["properties"].get("remoteVirtualNetwork") or {}).get("id", "")).lower() == vnet["id"].lower()
               for p in remote["properties"].get("virtualNetworkPeerings", []))
    state = "Connected" if back else "Initiated"
    if back:
        for peer in remote["properties"]["virtualNetworkPeerings"]:
            peer["properties"]["peeringState"] = "Connected"
            peer["properties"]["peeringSyncLevel"] = "FullyInSync"
    out = {**PEERING_DEFAULTS, **props, "remoteVirtualNetwork": {"id": remote["id"]}, "remoteAddressSpace": space,
           "remoteVirtualNetworkAddressSpace": space, "peeringState": state, "peeringSyncLevel": "FullyInSync",
           "resourceGuid": str(uuid.uuid4()), "provisioningState": "Succeeded"}
    return {"name": name, "id": f"{vnet['id']}/virtualNetworkPeerings/{name}", "etag": new_etag(),
            "type": f"{NS}/virtualNetworks/virtualNetworkPeerings", "properties": out}
