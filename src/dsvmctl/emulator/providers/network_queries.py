"""Microsoft.Network questions answered from the emulator's state: CheckIPAddressAvailability of a
virtual network, CheckDnsNameAvailability of a location, the usages of a location, and the NICs
behind a load balancer."""

from __future__ import annotations

import ipaddress
from typing import Any

from ..routing import Call
from ..wire import ArmError, Response, not_found
from .common import list_response, normalize_location

NS = "Microsoft.Network"
# (usage name, localized name, limit, resource type counted, what of it counts) as Azure reports them.
USAGES = (
    ("VirtualNetworks", "Virtual Networks", 1000, "virtualNetworks", None),
    ("StaticPublicIPAddresses", "Static Public IP Addresses", 1000, "publicIPAddresses", "static"),
    ("NetworkSecurityGroups", "Network Security Groups", 5000, "networkSecurityGroups", None),
    ("PublicIPAddresses", "Public IP Addresses", 1000, "publicIPAddresses", None),
    ("PublicIpPrefixes", "Public Ip Prefixes", 2147483647, "publicIPPrefixes", None),
    ("NatGateways", "Nat Gateways", 1000, "natGateways", None),
    ("NetworkInterfaces", "Network Interfaces", 65536, "networkInterfaces", None),
    ("LoadBalancers", "Load Balancers", 1000, "loadBalancers", None),
    ("RouteTables", "Route Tables", 200, "routeTables", None),
    ("ApplicationSecurityGroups", "Application Security Groups.", 3000, "applicationSecurityGroups", None),
    ("DdosProtectionPlans", "DDoS Protection Plans.", 1, "ddosProtectionPlans", None),
    ("StandardSkuLoadBalancers", "Standard Sku Load Balancers", 1000, "loadBalancers", "standard"),
    ("StandardSkuPublicIpAddresses", "Public IP Addresses - Standard", 1000, "publicIPAddresses", "standard"),
)


def add_routes(provider) -> None:
    provider.route("GET", "rg", "virtualNetworks/{name}/CheckIPAddressAvailability", check_ip_availability)
    provider.route("GET", "sub", "locations/{loc}/CheckDnsNameAvailability", check_dns_name_availability)
    provider.route("GET", "sub", "locations/{loc}/usages", usages)
    provider.route("GET", "rg", "loadBalancers/{name}/networkInterfaces", load_balancer_nics)


# -- CheckDnsNameAvailability, usages ------------------------------------------------------------------

def check_dns_name_availability(call: Call) -> Response:
    label = call.request.query.get("domainnamelabel", "")
    if not label:
        raise ArmError(400, "InvalidRequestFormat", "Cannot parse the request: the domainNameLabel query parameter "
                       "is required.", target="domainNameLabel")
    location = normalize_location(call.params["loc"])
    taken = any(str(((ip["properties"].get("dnsSettings") or {}).get("domainNameLabel")) or "").lower() == label.lower()
                and normalize_location(ip["location"]) == location for ip in call.em.find(f"{NS}/publicIPAddresses"))
    return Response(200, {"available": not taken})


def usages(call: Call) -> Response:
    location = normalize_location(call.params["loc"])
    base = f"/subscriptions/{call.em.active_subscription}/providers/{NS}/locations/{location}/usages"
    items = []
    for name, localized, limit, kind, only in USAGES:
        found = [b for b in call.em.find(f"{NS}/{kind}") if normalize_location(b.get("location", "")) == location]
        if only == "static":
            found = [b for b in found if str(b["properties"].get("publicIPAllocationMethod", "")).lower() == "static"]
        elif only == "standard":
            found = [b for b in found if str((b.get("sku") or {}).get("name", "")).lower() == "standard"]
        items.append({"currentValue": len(found), "id": f"{base}/{name}", "limit": limit,
                      "name": {"localizedValue": localized, "value": name}, "unit": "Count", "isAdjustable": True})
    return list_response(items)


# -- the NICs behind a load balancer -------------------------------------------------------------------

def load_balancer_nics(call: Call) -> Response:
    from .network_links import present

    lb = call.em.get(call.resource_id("loadBalancers", call.params["name"]))
    if lb is None:
        raise not_found(f"{NS}/loadBalancers", call.params["name"], call.resource_group or "")
    prefix = lb["id"].lower() + "/"
    behind = []
    for nic in call.em.find(f"{NS}/networkInterfaces"):
        refs = [ref for config in nic["properties"].get("ipConfigurations", [])
                for key in ("loadBalancerBackendAddressPools", "loadBalancerInboundNatRules")
                for ref in (config["properties"].get(key) or [])]
        if any(str((ref or {}).get("id", "")).lower().startswith(prefix) for ref in refs):
            behind.append(present(call.em, nic))
    return list_response(behind)



def check_ip_availability(call: Call) -> Response:
    vnet = call.em.get(call.resource_id("virtualNetworks", call.params["name"]))
    if vnet is None:
        raise not_found(f"{NS}/virtualNetworks", call.params["name"], call.resource_group or "")
    text = call.request.query.get("ipaddress", "")
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise ArmError(400, "InvalidIPAddress", f"The IP address '{text}' is not valid.") from None
    subnets = [s for s in vnet["properties"].get("subnets", [])
               if address in ipaddress.ip_network(s["properties"]["addressPrefix"])]
    if not subnets and not any(address in ipaddress.ip_network(p)
                               for p in vnet["properties"]["addressSpace"]["addressPrefixes"]):
        raise ArmError(400, "PrivateIPAddressNotInAnySubnet", f"Private static IP address {text} does not belong to "
                       "the range of any subnet in the virtual network.")
    taken = _used_addresses(call)
    # The first four addresses of a subnet and its last are Azure's own.
    reserved = bool(subnets) and not _usable(address, subnets[0])
    if str(address) not in taken and subnets and not reserved:
        return Response(200, {"available": True, "isPlatformReserved": False})
    free = []
    network = ipaddress.ip_network(subnets[0]["properties"]["addressPrefix"]) if subnets else None
    for host in (network.hosts() if network else []):
        if _usable(host, subnets[0]) and str(host) not in taken and host != address:
            free.append(str(host))
        if len(free) == 5:
            break
    return Response(200, {"available": False, "availableIPAddresses": free, "isPlatformReserved": reserved})


def _usable(address, subnet: dict[str, Any]) -> bool:
    network = ipaddress.ip_network(subnet["properties"]["addressPrefix"])
    offset = int(address) - int(network.network_address)
    return 4 <= offset < network.num_addresses - 1  # Azure keeps the first four and the last


def _used_addresses(call: Call) -> set[str]:
    used = set()
    for nic in call.em.find(f"{NS}/networkInterfaces"):
        for config in nic["properties"].get("ipConfigurations", []):
            used.add(config["properties"].get("privateIPAddress"))
    return used
