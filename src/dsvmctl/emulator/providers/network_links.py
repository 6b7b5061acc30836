"""Back-references the Network RP computes from what refers to a resource, added when it is read.

Azure shows on a resource the resources that point at it: a DDoS protection plan lists the
virtual networks it protects, an NSG the subnets and scale-set NICs it guards, a public IP the
load-balancer frontend or gateway that holds it, a subnet the scale-set instances and gateways
in it, and a load balancer the scale-set instances in its backend pools (also as backend
addresses), with one inbound NAT rule per instance for each inbound NAT pool they use
(`{pool}.{instanceId}`); a peering that uses the remote network's gateways names them.
What a NIC writes is stored by the NIC's own PUT (network.py); everything here is derived from
the referrers as they are now, so it never goes stale when they change or go away.
"""

from __future__ import annotations

import uuid
from typing import Any

NS = "Microsoft.Network"
VMSS = "Microsoft.Compute/virtualMachineScaleSets"


def present(em, body: dict[str, Any]) -> dict[str, Any]:
    """A copy of a Network resource for a client, with the back-references it has now."""
    out = em.public(body)
    kind = out.get("type", "").split("/")[-1].lower()
    props = out.setdefault("properties", {})
    if kind == "ddosprotectionplans":
        _set_list(props, "virtualNetworks", [{"id": v["id"]} for v in protected_networks(em, out["id"])])
    elif kind == "networksecuritygroups":
        _set_list(props, "subnets", [{"id": s["id"]} for s in subnets_using(em, "networkSecurityGroup", out["id"])])
        _set_list(props, "networkInterfaces", props.get("networkInterfaces", []) + [
            {"id": nic_id} for nic_id, nic in scale_set_nics(em)
            if _ref(nic.get("networkSecurityGroup")) == out["id"].lower()])
    elif kind == "publicipaddresses" and not props.get("ipConfiguration"):
        holder = public_ip_holder(em, out["id"])
        if holder:
            props["ipConfiguration"] = {"id": holder}
    elif kind == "virtualnetworks":
        for subnet in props.get("subnets", []):
            _add_other_configs(em, subnet)
        for peering in props.get("virtualNetworkPeerings", []):
            _set_list(peering["properties"], "remoteGateways", [{"id": g["id"]} for g in remote_gateways(em, peering)])
    elif kind == "loadbalancers":
        _add_scale_set_members(em, out)
    return out


def present_child(em, parent: dict[str, Any], child_id: str) -> dict[str, Any] | None:
    """A child resource (a subnet, a backend pool, ...) as its presented parent shows it."""
    shown = present(em, parent)
    for items in shown["properties"].values():
        for item in items if isinstance(items, list) else []:
            if isinstance(item, dict) and str(item.get("id", "")).lower() == child_id.lower():
                return item
    return None


# -- who refers to what --------------------------------------------------------------------------------

def protected_networks(em, plan_id: str) -> list[dict[str, Any]]:
    return [v for v in em.find(f"{NS}/virtualNetworks")
            if _ref(v["properties"].get("ddosProtectionPlan")) == plan_id.lower()]


def subnets_using(em, key: str, target_id: str) -> list[dict[str, Any]]:
    return [s for v in em.find(f"{NS}/virtualNetworks") for s in v["properties"].get("subnets", [])
            if _ref(s["properties"].get(key)) == target_id.lower()]


def public_ip_holder(em, public_ip_id: str) -> str | None:
    """The load-balancer frontend or gateway IP configuration holding a public IP (a NIC's is stored)."""
    for kind, key in (("loadBalancers", "frontendIPConfigurations"), ("virtualNetworkGateways", "ipConfigurations")):
        for holder in em.find(f"{NS}/{kind}"):
            for config in holder["properties"].get(key, []):
                if _ref(config["properties"].get("publicIPAddress")) == public_ip_id.lower():
                    return config["id"]
    return None


def gateway_ip_configs(em):
    for gateway in em.find(f"{NS}/virtualNetworkGateways"):
        for config in gateway["properties"].get("ipConfigurations", []):
            yield gateway, config


def remote_gateways(em, peering: dict[str, Any]) -> list[dict[str, Any]]:
    """The gateways of the peered network, when the peering uses them."""
    if not peering["properties"].get("useRemoteGateways"):
        return []
    remote = _ref(peering["properties"].get("remoteVirtualNetwork")) + "/subnets/"
    found = []
    for gateway, config in gateway_ip_configs(em):
        if _ref(config["properties"].get("subnet")).startswith(remote) and gateway not in found:
            found.append(gateway)
    return found


def _scale_set_instance_nics(em):
    """(NIC id, its configuration's properties, instance id, the instance's ordinal) of every scale-set instance."""
    for vmss in em.find(VMSS):
        profile = (vmss.get("properties") or {}).get("virtualMachineProfile") or {}
        configs = (profile.get("networkProfile") or {}).get("networkInterfaceConfigurations") or []
        instances = sorted(em.meta_of(vmss["id"]).get("instances", {}), key=int)
        for ordinal, instance in enumerate(instances):
            for nic in configs:
                nic_id = f"{vmss['id']}/virtualMachines/{instance}/networkInterfaces/{nic.get('name')}"
                yield nic_id, nic.get("properties") or {}, instance, ordinal


def scale_set_nics(em):
    for nic_id, props, _instance, _ordinal in _scale_set_instance_nics(em):
        yield nic_id, props


def scale_set_ip_configs(em):
    """(ip configuration id, its properties, instance id, the instance's ordinal) of every scale-set instance."""
    for nic_id, props, instance, ordinal in _scale_set_instance_nics(em):
        for ip in props.get("ipConfigurations") or []:
            yield f"{nic_id}/ipConfigurations/{ip.get('name')}", ip.get("properties") or {}, instance, ordinal


# -- what is added ---------------------------------------------------------------------------------------

def _add_other_configs(em, subnet: dict[str, Any]) -> None:
    """Scale-set instances' and gateways' IP configurations in a subnet (NICs store their own)."""
    wanted = subnet["id"].lower()
    ids = [config_id for config_id, props, _i, _o in scale_set_ip_configs(em) if _ref(props.get("subnet")) == wanted]
    ids += [c["id"] for _g, c in gateway_ip_configs(em) if _ref(c["properties"].get("subnet")) == wanted]
    if ids:
        subnet["properties"]["ipConfigurations"] = subnet["properties"].get("ipConfigurations", []) + [
            {"id": i} for i in ids]


def _add_scale_set_members(em, lb: dict[str, Any]) -> None:
    props = lb["properties"]
    pools = {p["id"].lower(): p for p in props.get("backendAddressPools", [])}
    nat_pools = {p["id"].lower(): p for p in props.get("inboundNatPools", [])}
    frontends = {f["id"].lower(): f for f in props.get("frontendIPConfigurations", [])}
    for config_id, ip, instance, ordinal in scale_set_ip_configs(em):
        for ref in ip.get("loadBalancerBackendAddressPools") or []:
            pool = pools.get(_ref(ref))
            if pool is not None:
                pool["properties"].setdefault("backendIPConfigurations", []).append({"id": config_id})
        for ref in ip.get("loadBalancerInboundNatPools") or []:
            nat_pool = nat_pools.get(_ref(ref))
            if nat_pool is None:
                continue
            rule = _nat_rule(lb, nat_pool, config_id, instance, ordinal)
            props.setdefault("inboundNatRules", []).append(rule)
            frontend = frontends.get(_ref(rule["properties"].get("frontendIPConfiguration")))
            if frontend is not None:
                frontend["properties"].setdefault("inboundNatRules", []).append({"id": rule["id"]})
    for pool in pools.values():
        _add_backend_addresses(pool, [r for r in props.get("inboundNatRules", [])
                                      if _ref(r["properties"].get("backendAddressPool")) == pool["id"].lower()])


def _add_backend_addresses(pool: dict[str, Any], pool_nat_rules: list[dict[str, Any]]) -> None:
    """Each NIC-based member of a pool is also one of its backend addresses (named by a stable GUID),
    with the port each inbound NAT rule on the whole pool gives it (the range's start + its place)."""
    addresses = pool["properties"].setdefault("loadBalancerBackendAddresses", [])
    for index, config in enumerate(pool["properties"].get("backendIPConfigurations", [])):
        name = str(uuid.uuid5(uuid.NAMESPACE_URL, config["id"].lower()))
        address = {"provisioningState": "Succeeded", "networkInterfaceIPConfiguration": {"id": config["id"]}}
        ports = [{"inboundNatRuleName": r["name"], "backendPort": r["properties"].get("backendPort"),
                  "frontendPort": _number(r["properties"].get("frontendPortRangeStart")) + index}
                 for r in pool_nat_rules if "frontendPortRangeStart" in r["properties"]]
        if ports:
            address["inboundNatRulesPortMapping"] = ports
        addresses.append({"name": name, "id": f"{pool['id']}/loadBalancerBackendAddresses/{name}",
                          "etag": pool.get("etag"), "properties": address,
                          "type": f"{NS}/loadBalancers/backendAddressPools/loadBalancerBackendAddresses"})


def _nat_rule(lb: dict[str, Any], nat_pool: dict[str, Any], config_id: str, instance: str,
              ordinal: int) -> dict[str, Any]:
    pool = nat_pool["properties"]
    name = f"{nat_pool['name']}.{instance}"
    return {"name": name, "id": f"{lb['id']}/inboundNatRules/{name}", "etag": lb.get("etag"),
            "type": f"{NS}/loadBalancers/inboundNatRules", "properties": {
                "provisioningState": "Succeeded", "frontendIPConfiguration": pool.get("frontendIPConfiguration"),
                "frontendPort": _number(pool.get("frontendPortRangeStart")) + ordinal,
                "backendPort": pool.get("backendPort"), "protocol": pool.get("protocol"),
                "enableFloatingIP": pool.get("enableFloatingIP", False),
                "idleTimeoutInMinutes": pool.get("idleTimeoutInMinutes", 4),
                "enableTcpReset": pool.get("enableTcpReset", False),
                "enableDestinationServiceEndpoint": False, "backendIPConfiguration": {"id": config_id}}}


def _set_list(props: dict[str, Any], key: str, items: list[dict[str, Any]]) -> None:
    if items:
        props[key] = items
    else:
        props.pop(key, None)


def _number(value: Any) -> int:
    """A port as ARM reads it: templates send numbers as strings."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _ref(reference: Any) -> str:
    return str((reference or {}).get("id", "")).lower() if isinstance(reference, dict) else ""
