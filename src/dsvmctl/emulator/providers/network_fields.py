"""Fields the Network RP always returns, whatever the request said (empty lists, defaults,
computed settings), as the recorded responses show them. Applied to every Network write."""

from __future__ import annotations

import uuid
from typing import Any

RULE_LISTS = ("sourceAddressPrefixes", "destinationAddressPrefixes", "sourcePortRanges", "destinationPortRanges")
NIC_DEFAULTS = {"allowPort25Out": True, "auxiliaryMode": "None", "auxiliarySku": "None",
                "disableTcpStateTracking": False, "vnetEncryptionSupported": False, "tapConfigurations": [],
                "hostedWorkloads": []}
LB_RULE_DEFAULTS = {"allowBackendPortConflict": False, "enableDestinationServiceEndpoint": False}


def complete(body: dict[str, Any]) -> dict[str, Any]:
    kind = body.get("type", "").split("/")[-1].lower()
    props = body.setdefault("properties", {})
    if kind == "networksecuritygroups":
        for rule in props.get("securityRules", []) + props.get("defaultSecurityRules", []):
            complete_child("securityRules", rule)
            rule.setdefault("etag", body.get("etag"))
    elif kind == "virtualnetworks":
        props.setdefault("dhcpOptions", {}).setdefault("dnsServers", [])
        props.setdefault("enableVmProtection", False)
        for subnet in props.get("subnets", []):
            complete_child("subnets", subnet)
    elif kind == "networkinterfaces":
        body.setdefault("kind", "Regular")
        for key, value in NIC_DEFAULTS.items():
            props.setdefault(key, list(value) if isinstance(value, list) else value)
        dns = props.setdefault("dnsSettings", {})
        dns.setdefault("dnsServers", [])
        dns.setdefault("appliedDnsServers", [])
        # Azure's per-VNet internal DNS suffix: one random label under internal.cloudapp.net.
        dns.setdefault("internalDomainNameSuffix", f"{uuid.uuid4().hex[:26]}.bx.internal.cloudapp.net")
        if dns.get("internalDnsNameLabel"):
            dns["internalFqdn"] = f"{dns['internalDnsNameLabel']}.{dns['internalDomainNameSuffix']}"
        else:
            dns.pop("internalFqdn", None)
    elif kind == "publicipaddresses":
        props.setdefault("ipTags", [])
        props.setdefault("ddosSettings", {"protectionMode": "VirtualNetworkInherited"})
    elif kind == "loadbalancers":
        for rule in props.get("loadBalancingRules", []) + props.get("inboundNatRules", []):
            for key, value in LB_RULE_DEFAULTS.items():
                rule["properties"].setdefault(key, value)
        for rule in props.get("inboundNatRules", []):
            if "frontendPortRangeStart" in rule["properties"]:  # a rule on a whole pool has no one port
                rule["properties"].setdefault("frontendPort", 0)
    elif kind == "natgateways":
        body.setdefault("sku", {}).setdefault("tier", "Regional")
    return body


def complete_child(child: str, item: dict[str, Any]) -> dict[str, Any]:
    props = item.setdefault("properties", {})
    if child == "securityRules":
        for key in RULE_LISTS:
            props.setdefault(key, [])
    elif child == "subnets":
        props.setdefault("delegations", [])
    return item
