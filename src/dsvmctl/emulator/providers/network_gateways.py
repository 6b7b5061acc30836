"""Microsoft.Network kinds at the edge of a network: public IP prefixes and virtual network
gateways. Their verbs are the Network provider's own (network_shapes.KINDS); here is what each
computes on a PUT: a prefix's address range, a gateway's IP configurations and BGP settings.

A gateway is simple: it is provisioned at once (Azure takes 20-45 minutes) and carries no
tunnels; what a client reads back has the shape the recordings show.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from ..routing import Call
from ..wire import ArmError
from .common import require_reference

NS = "Microsoft.Network"
# Documentation range (TEST-NET-2, RFC 5737) for prefixes, as public IPs use TEST-NET-3.
PREFIX_POOL = ipaddress.ip_network("198.51.100.0/24")
GATEWAY_DEFAULTS = {"packetCaptureDiagnosticState": "None", "enablePrivateIpAddress": False, "isMigrateToCSES": False,
                    "natRules": [], "virtualNetworkGatewayPolicyGroups": [], "enableBgpRouteTranslationForNat": False,
                    "disableIPSecReplayProtection": False, "enableBgp": False, "activeActive": False,
                    "vpnGatewayGeneration": "Generation1"}
VPN_CLIENT_DEFAULTS = {"vpnClientProtocols": ["SSTP"], "vpnAuthenticationTypes": [], "vpnClientRootCertificates": [],
                       "vpnClientRevokedCertificates": [], "vngClientConnectionConfigurations": [],
                       "radiusServers": [], "vpnClientIpsecPolicies": []}
AZURE_GATEWAY_ASN = 65515  # the ASN Azure gives a VPN gateway unless told another


def build_prefix(call: Call, body: dict[str, Any], old: dict[str, Any]) -> None:
    props = body["properties"]
    props.setdefault("publicIPAddressVersion", "IPv4")
    if old.get("ipPrefix"):  # an allocated range stays with the prefix
        props["ipPrefix"] = old["ipPrefix"]
        return
    try:
        length = int(props.get("prefixLength"))
    except (TypeError, ValueError):
        length = -1
    if not PREFIX_POOL.prefixlen <= length <= 31:
        raise ArmError(400, "InvalidRequestFormat", f"Cannot parse the request: prefixLength must be between "
                       f"{PREFIX_POOL.prefixlen} and 31 for an IPv4 public IP prefix.", target="properties.prefixLength")
    props["prefixLength"] = length
    taken = [ipaddress.ip_network(p["properties"]["ipPrefix"]) for p in call.em.find(f"{NS}/publicIPPrefixes")
             if (p["properties"] or {}).get("ipPrefix")]
    for candidate in PREFIX_POOL.subnets(new_prefix=length):
        if not any(candidate.overlaps(t) for t in taken):
            props["ipPrefix"] = str(candidate)
            return
    raise ArmError(409, "PublicIpPrefixesExhausted", "The emulator has no public address ranges left.")


def build_gateway(call: Call, body: dict[str, Any], old: dict[str, Any]) -> None:
    props = body["properties"]
    for key, value in GATEWAY_DEFAULTS.items():
        props.setdefault(key, list(value) if isinstance(value, list) else value)
    sku = props.get("sku") or {"name": "Basic", "tier": "Basic"}
    props["sku"] = {**sku, "capacity": sku.get("capacity", 2)}
    peering, configs = [], []
    for index, raw in enumerate(props.get("ipConfigurations") or []):
        name = raw.get("name") if isinstance(raw, dict) else None
        if not name:
            raise ArmError(400, "InvalidRequestFormat", "Cannot parse the request: every gateway IP configuration "
                           "needs a name.", target=f"properties.ipConfigurations[{index}].name")
        config = {"name": name, "id": f"{body['id']}/ipConfigurations/{name}", "etag": body["etag"],
                  "type": f"{NS}/virtualNetworkGateways/ipConfigurations",
                  "properties": {**(raw.get("properties") or {}), "provisioningState": "Succeeded"}}
        configs.append(config)
        cprops = config["properties"]
        path = f"properties.ipConfigurations[{index}].properties"
        subnet = require_reference(call, cprops.get("subnet"), body["id"], f"{path}.subnet")
        cprops["subnet"] = {"id": subnet["id"]}
        tunnel = []
        if cprops.get("publicIPAddress"):
            address = require_reference(call, cprops["publicIPAddress"], body["id"], f"{path}.publicIPAddress")
            cprops["publicIPAddress"] = {"id": address["id"]}
            tunnel = [address["properties"]["ipAddress"]] if address["properties"].get("ipAddress") else []
        cprops.setdefault("privateIPAllocationMethod", "Dynamic")
        # Azure's gateway answers BGP on the last usable address of its GatewaySubnet.
        network = ipaddress.ip_network(subnet["properties"]["addressPrefix"])
        peering.append({"ipconfigurationId": config["id"], "defaultBgpIpAddresses": [str(network[-2])],
                        "customBgpIpAddresses": [], "tunnelIpAddresses": tunnel})
    props["ipConfigurations"] = configs
    bgp = props.get("bgpSettings") or {}
    props["bgpSettings"] = {"asn": bgp.get("asn", AZURE_GATEWAY_ASN), "peerWeight": bgp.get("peerWeight", 0),
                            "bgpPeeringAddresses": peering, **({"bgpPeeringAddress": peering[0][
                                "defaultBgpIpAddresses"][0]} if peering else {})}
    if str(props.get("gatewayType", "Vpn")).lower() == "vpn":
        client = props.get("vpnClientConfiguration") or old.get("vpnClientConfiguration") or {}
        props["vpnClientConfiguration"] = {**VPN_CLIENT_DEFAULTS, **client}


EXTRA_BUILDERS = {"publicIPPrefixes": build_prefix, "virtualNetworkGateways": build_gateway}
