"""The JSON shapes of the request bodies the emulator accepts, checked before a handler runs.

ARM deserializes each body into its API model first and answers a value of the wrong type
with 400 InvalidRequestContent, so a handler only ever sees well-typed input. This module
plays that part: each writable route names the shape of the properties the emulator reads.
Unknown properties pass untouched (ARM ignores or stores them); an explicit null at a known
property means "not given", as it does in ARM, and is dropped.

Shapes: `str`, `int`, `bool`, `NUMBER`, `ANY`; a dict literal is an object with those known
keys; a one-element list is an array of that shape; `Map(shape)` an object of any keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .wire import ArmError


@dataclass(frozen=True)
class Map:
    values: Any


ANY = object()
NUMBER = (int, float)

TAGS = Map(str)
REF = {"id": str}
TRACKED = {"location": str, "tags": TAGS, "sku": {"name": str, "tier": str}, "zones": [str]}

_SUBNET_PROPS = {"addressPrefix": str, "addressPrefixes": [str], "networkSecurityGroup": REF,
                 "defaultOutboundAccess": bool, "privateEndpointNetworkPolicies": str}
_RULE_PROPS = {"protocol": str, "access": str, "direction": str, "priority": int, "description": str,
               "sourceAddressPrefix": str, "sourceAddressPrefixes": [str], "sourcePortRange": str,
               "sourcePortRanges": [str], "destinationAddressPrefix": str, "destinationAddressPrefixes": [str],
               "destinationPortRange": str, "destinationPortRanges": [str]}
_IP_CONFIG_PROPS = {"subnet": REF, "publicIPAddress": REF, "privateIPAddress": str,
                    "privateIPAllocationMethod": str, "primary": bool, "privateIPAddressVersion": str}
# What the Network kinds refer to (their back-references are computed from these): the structure
# only, as templates send numbers and booleans as strings that ARM converts.
_LB_RULE_PROPS = {"frontendIPConfiguration": REF, "frontendIPConfigurations": [REF], "backendAddressPool": REF,
                  "backendAddressPools": [REF], "probe": REF}
_LB_PROPS = {"frontendIPConfigurations": [{"name": str, "properties": {"publicIPAddress": REF, "subnet": REF}}],
             "backendAddressPools": [{"name": str, "properties": dict}], "probes": [{"name": str, "properties": dict}],
             **{kind: [{"name": str, "properties": _LB_RULE_PROPS}]
                for kind in ("loadBalancingRules", "inboundNatRules", "inboundNatPools", "outboundRules")}}
_GATEWAY_PROPS = {"ipConfigurations": [{"name": str, "properties": {"subnet": REF, "publicIPAddress": REF}}],
                  "sku": {"name": str, "tier": str}, "bgpSettings": dict, "vpnClientConfiguration": dict}
_IMAGE = {"id": str, "publisher": str, "offer": str, "sku": str, "version": str}
_OS_DISK = {"name": str, "createOption": str, "caching": str, "deleteOption": str, "diskSizeGB": int,
            "osType": str, "managedDisk": {"id": str, "storageAccountType": str}}
_VM_PROPS = {
    "hardwareProfile": {"vmSize": str},
    "storageProfile": {"imageReference": _IMAGE, "osDisk": _OS_DISK, "dataDisks": [dict]},
    "osProfile": {"computerName": str, "adminUsername": str, "adminPassword": str, "customData": str,
                  "linuxConfiguration": {"disablePasswordAuthentication": bool,
                                         "ssh": {"publicKeys": [{"path": str, "keyData": str}]}},
                  "windowsConfiguration": dict},
    "networkProfile": {"networkInterfaces": [{"id": str, "properties": {"primary": bool, "deleteOption": str}}]},
    "securityProfile": dict, "diagnosticsProfile": dict, "priority": str, "evictionPolicy": str,
    "billingProfile": dict, "additionalCapabilities": dict, "userData": str,
}
_DEPLOYMENT = {"location": str, "tags": TAGS, "properties": {
    "mode": str, "template": dict, "parameters": Map({"value": ANY, "reference": dict}),
    "templateLink": {"uri": str, "id": str, "contentVersion": str}, "parametersLink": {"uri": str},
    "expressionEvaluationOptions": {"scope": str}, "debugSetting": {"detailLevel": str}}}

# Keyed by namespace/the route's fixed segments, lower case ("microsoft.compute/virtualmachines").
BODIES: dict[str, Any] = {
    "subscriptions/resourcegroups": {"location": str, "tags": TAGS, "managedBy": str, "properties": dict},
    "microsoft.network/virtualnetworks": {**TRACKED, "properties": {
        "addressSpace": {"addressPrefixes": [str]},
        "subnets": [{"name": str, "properties": _SUBNET_PROPS}],
        "dhcpOptions": {"dnsServers": [str]}, "enableDdosProtection": bool, "ddosProtectionPlan": REF}},
    "microsoft.network/virtualnetworks/subnets": {"name": str, "properties": _SUBNET_PROPS},
    "microsoft.network/networksecuritygroups": {**TRACKED, "properties": {
        "securityRules": [{"name": str, "properties": _RULE_PROPS}]}},
    "microsoft.network/networksecuritygroups/securityrules": {"name": str, "properties": _RULE_PROPS},
    "microsoft.network/publicipaddresses": {**TRACKED, "properties": {
        "publicIPAllocationMethod": str, "publicIPAddressVersion": str, "idleTimeoutInMinutes": int,
        "dnsSettings": {"domainNameLabel": str, "fqdn": str}}},
    "microsoft.network/networkinterfaces": {**TRACKED, "properties": {
        "ipConfigurations": [{"name": str, "properties": _IP_CONFIG_PROPS}],
        "networkSecurityGroup": REF, "enableAcceleratedNetworking": bool, "enableIPForwarding": bool,
        "dnsSettings": {"dnsServers": [str]}}},
    "microsoft.network/loadbalancers": {**TRACKED, "properties": _LB_PROPS},
    **{f"microsoft.network/loadbalancers/{kind.lower()}": {"name": str, "properties": _LB_RULE_PROPS}
       for kind in ("loadBalancingRules", "inboundNatRules", "outboundRules")},
    "microsoft.network/virtualnetworkgateways": {**TRACKED, "properties": _GATEWAY_PROPS},
    "microsoft.network/publicipprefixes": {**TRACKED, "properties": {"publicIPAddressVersion": str}},
    "microsoft.network/virtualnetworks/virtualnetworkpeerings": {"name": str, "properties": {
        "remoteVirtualNetwork": REF}},
    "microsoft.compute/virtualmachines": {**TRACKED, "properties": _VM_PROPS, "plan": dict, "identity": dict},
    "microsoft.compute/virtualmachines/runcommand": {"commandId": str, "script": [str],
                                                     "parameters": [{"name": str, "value": str}]},
    "microsoft.compute/virtualmachines/runcommands": {**TRACKED, "properties": {
        "source": {"script": str, "scriptUri": str, "commandId": str}, "parameters": [dict],
        "asyncExecution": bool, "timeoutInSeconds": int, "runAsUser": str}},
    "microsoft.compute/virtualmachines/extensions": {**TRACKED, "properties": {
        "publisher": str, "type": str, "typeHandlerVersion": str, "autoUpgradeMinorVersion": bool,
        "settings": ANY, "protectedSettings": ANY}},
    "microsoft.compute/disks": {**TRACKED, "properties": {
        "creationData": {"createOption": str, "sourceResourceId": str, "imageReference": REF},
        "diskSizeGB": int, "osType": str, "hyperVGeneration": str}},
    "microsoft.devtestlab/schedules": {**TRACKED, "properties": {
        "status": str, "taskType": str, "timeZoneId": str, "targetResourceId": str,
        "dailyRecurrence": {"time": str}, "hourlyRecurrence": {"minute": int},
        "weeklyRecurrence": {"time": str, "weekdays": [str]},
        "notificationSettings": {"status": str, "timeInMinutes": int, "webhookUrl": str, "emailRecipient": str}}},
    "microsoft.resources/deployments": _DEPLOYMENT,
    "microsoft.resources/deployments/validate": _DEPLOYMENT,
    "microsoft.resources/deployments/whatif": _DEPLOYMENT,
}


def shape_key(namespace: str, pattern: list[str]) -> str:
    fixed = [segment.lower() for segment in pattern if not segment.startswith("{")]
    return "/".join([namespace.lower(), *fixed] if namespace else fixed)


def check_body(key: str, body: Any) -> Any:
    """The body with nulls at known properties dropped; a 400 when a known property has the wrong type."""
    shape = BODIES.get(key)
    if shape is None or body is None:
        return body
    if not isinstance(body, dict):
        raise _invalid("", "an object", body)
    return _check(body, shape, "")


_TYPE_NAMES = {str: "a string", int: "an integer", bool: "true or false", NUMBER: "a number", dict: "an object"}


def _check(value: Any, shape: Any, path: str) -> Any:
    if shape is ANY:
        return value
    if isinstance(shape, dict):
        if not isinstance(value, dict):
            raise _invalid(path, "an object", value)
        out = {}
        for key, item in value.items():
            if key in shape:
                if item is None:
                    continue  # null means "not given"
                out[key] = _check(item, shape[key], f"{path}.{key}" if path else key)
            else:
                out[key] = item
        return out
    if isinstance(shape, list):
        if not isinstance(value, list):
            raise _invalid(path, "an array", value)
        return [_check(item, shape[0], f"{path}[{index}]") for index, item in enumerate(value)]
    if isinstance(shape, Map):
        if not isinstance(value, dict):
            raise _invalid(path, "an object", value)
        return {key: _check(item, shape.values, f"{path}.{key}") for key, item in value.items()}
    if shape is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise _invalid(path, "an integer", value)
    if shape is NUMBER and (isinstance(value, bool) or not isinstance(value, NUMBER)):
        raise _invalid(path, "a number", value)
    if shape in (str, bool, dict) and not isinstance(value, shape):
        raise _invalid(path, _TYPE_NAMES[shape], value)
    return value


def _invalid(path: str, expected: str, value: Any) -> ArmError:
    where = f"'{path}'" if path else "the body"
    got = "null" if value is None else {bool: "a boolean", str: "a string", int: "a number", float: "a number",
                                          list: "an array", dict: "an object"}.get(type(value), type(value).__name__)
    return ArmError(400, "InvalidRequestContent", f"The request content was invalid and could not be "
                    f"deserialized: {where} must be {expected}, not {got}.", target=path or None)
