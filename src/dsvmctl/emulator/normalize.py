"""Case, as ARM tolerates it: one table and one pass over each request body.

ARM's front door and its resource providers deserialize JSON case-insensitively: property names
(`Location`, `Properties`) and enum values (`"mode": "incremental"`, `"dynamic"`, `"premium_lrs"`)
are taken in any case and answered in canonical casing. The providers behind this layer see only
canonical casing, so none of them compares case itself. A value that matches no member of its
enum is refused the way ARM's deserializer refuses it (Newtonsoft's "Error converting value").

The table is keyed by resource type (lower-case, as routing names it) and a path into the body:
`a.b` walks objects, `a[].b` walks every item of a list. An entry with values names only the
enum; `None` canonicalises the names along the path and leaves the value as it is.
"""

from __future__ import annotations

from typing import Any

from .wire import ArmError

# -- enums (canonical members, and the .NET type the deserializer would name) ---------------------------

MODE = ("DeploymentMode", ("Incremental", "Complete"))
ON_ERROR = ("OnErrorDeploymentType", ("LastSuccessful", "SpecificDeployment"))
CACHING = ("CachingTypes", ("None", "ReadOnly", "ReadWrite"))
DISK_SKU = ("StorageAccountTypes", ("Standard_LRS", "Premium_LRS", "StandardSSD_LRS", "UltraSSD_LRS",
                                    "Premium_ZRS", "StandardSSD_ZRS", "PremiumV2_LRS"))
OS_TYPE = ("OperatingSystemTypes", ("Windows", "Linux"))
CREATE_OPTION = ("DiskCreateOptionTypes", ("FromImage", "Empty", "Attach", "Copy", "Restore", "Import",
                                           "Upload", "ImportSecure", "UploadPreparedSecure"))
DELETE_OPTION = ("DeleteOptions", ("Delete", "Detach"))
PRIORITY = ("VirtualMachinePriorityTypes", ("Regular", "Low", "Spot"))
EVICTION = ("VirtualMachineEvictionPolicyTypes", ("Deallocate", "Delete"))
GENERATION = ("HyperVGeneration", ("V1", "V2"))
SECURITY_TYPE = ("SecurityTypes", ("TrustedLaunch", "ConfidentialVM", "Standard"))
IDENTITY = ("ResourceIdentityType", ("SystemAssigned", "UserAssigned", "SystemAssigned, UserAssigned", "None"))
ALLOCATION = ("IPAllocationMethod", ("Static", "Dynamic"))
IP_VERSION = ("IPVersion", ("IPv4", "IPv6"))
IP_SKU = ("PublicIPAddressSkuName", ("Basic", "Standard"))
IP_TIER = ("PublicIPAddressSkuTier", ("Regional", "Global"))
PROTOCOL = ("SecurityRuleProtocol", ("Tcp", "Udp", "Icmp", "Esp", "*", "Ah"))
ACCESS = ("SecurityRuleAccess", ("Allow", "Deny"))
DIRECTION = ("SecurityRuleDirection", ("Inbound", "Outbound"))

_VM = "microsoft.compute/virtualmachines"
_OS_DISK = "properties.storageProfile.osDisk"
_DATA_DISKS = "properties.storageProfile.dataDisks[]"
_RULE = ("microsoft.network/networksecuritygroups", "properties.securityRules[].properties")
# Names every tracked resource body has, canonicalised for every type.
_COMMON = ("location", "tags", "properties", "sku.name", "sku.tier", "identity.type", "plan.name", "plan.publisher",
           "plan.product", "zones", "kind", "name", "type", "id", "etag")

TABLE: dict[str, dict[str, Any]] = {
    "microsoft.resources/deployments": {
        "properties.mode": MODE, "properties.template": None, "properties.parameters": None,
        "properties.templateLink.uri": None, "properties.parametersLink.uri": None,
        "properties.onErrorDeployment.type": ON_ERROR,
    },
    _VM: {
        "properties.priority": PRIORITY, "properties.evictionPolicy": EVICTION,
        "properties.billingProfile.maxPrice": None,
        "properties.hardwareProfile.vmSize": None,
        "properties.storageProfile.imageReference.publisher": None,
        "properties.storageProfile.imageReference.offer": None,
        "properties.storageProfile.imageReference.sku": None,
        "properties.storageProfile.imageReference.version": None,
        "properties.storageProfile.imageReference.id": None,
        f"{_OS_DISK}.caching": CACHING, f"{_OS_DISK}.osType": OS_TYPE, f"{_OS_DISK}.createOption": CREATE_OPTION,
        f"{_OS_DISK}.deleteOption": DELETE_OPTION, f"{_OS_DISK}.managedDisk.storageAccountType": DISK_SKU,
        f"{_OS_DISK}.managedDisk.id": None, f"{_OS_DISK}.name": None, f"{_OS_DISK}.diskSizeGB": None,
        f"{_DATA_DISKS}.caching": CACHING, f"{_DATA_DISKS}.createOption": CREATE_OPTION,
        f"{_DATA_DISKS}.deleteOption": DELETE_OPTION, f"{_DATA_DISKS}.managedDisk.storageAccountType": DISK_SKU,
        f"{_DATA_DISKS}.lun": None, f"{_DATA_DISKS}.diskSizeGB": None,
        "properties.osProfile.computerName": None, "properties.osProfile.adminUsername": None,
        "properties.osProfile.adminPassword": None, "properties.osProfile.customData": None,
        "properties.osProfile.linuxConfiguration.disablePasswordAuthentication": None,
        "properties.osProfile.linuxConfiguration.ssh.publicKeys[].keyData": None,
        "properties.osProfile.linuxConfiguration.ssh.publicKeys[].path": None,
        "properties.networkProfile.networkInterfaces[].id": None,
        "properties.networkProfile.networkInterfaces[].properties.deleteOption": DELETE_OPTION,
        "properties.securityProfile.securityType": SECURITY_TYPE,
        "properties.additionalCapabilities.ultraSSDEnabled": None,
        "identity.type": IDENTITY,
    },
    "microsoft.compute/disks": {
        "sku.name": DISK_SKU, "properties.osType": OS_TYPE, "properties.hyperVGeneration": GENERATION,
        "properties.creationData.createOption": CREATE_OPTION, "properties.diskSizeGB": None,
    },
    "microsoft.network/publicipaddresses": {
        "sku.name": IP_SKU, "sku.tier": IP_TIER, "properties.publicIPAllocationMethod": ALLOCATION,
        "properties.publicIPAddressVersion": IP_VERSION, "properties.dnsSettings.domainNameLabel": None,
    },
    "microsoft.network/networkinterfaces": {
        "properties.ipConfigurations[].name": None,
        "properties.ipConfigurations[].properties.privateIPAllocationMethod": ALLOCATION,
        "properties.ipConfigurations[].properties.privateIPAddressVersion": IP_VERSION,
        "properties.ipConfigurations[].properties.subnet.id": None,
        "properties.ipConfigurations[].properties.publicIPAddress.id": None,
        "properties.networkSecurityGroup.id": None, "properties.enableAcceleratedNetworking": None,
    },
    "microsoft.network/virtualnetworks": {
        "properties.addressSpace.addressPrefixes": None, "properties.subnets[].name": None,
        "properties.subnets[].properties.addressPrefix": None,
        "properties.subnets[].properties.networkSecurityGroup.id": None,
    },
    _RULE[0]: {f"{_RULE[1]}.{k}": v for k, v in (("protocol", PROTOCOL), ("access", ACCESS), ("direction", DIRECTION),
                                                  ("priority", None), ("sourceAddressPrefix", None),
                                                  ("destinationPortRange", None), ("sourcePortRange", None),
                                                  ("destinationAddressPrefix", None))},
    "microsoft.network/networksecuritygroups/securityrules": {
        "properties.protocol": PROTOCOL, "properties.access": ACCESS, "properties.direction": DIRECTION,
        "properties.priority": None,
    },
}
# The error each namespace's deserializer gives for a value outside its enum.
_REFUSAL = {"microsoft.compute": (400, "BadRequest", "{detail}"),
            "microsoft.network": (400, "InvalidRequestFormat", "Cannot parse the request. {detail}"),
            "microsoft.resources": (400, "InvalidRequestContent",
                                    "The request content was invalid and could not be deserialized: '{detail}'.")}


def normalize(resource_type: str, body: Any) -> Any:
    """The body with ARM's case tolerance applied for `resource_type` (changed in place)."""
    if not isinstance(body, dict):
        return body
    entries = TABLE.get(resource_type.lower(), {})
    for path in _COMMON:
        _walk(resource_type, body, path.split("."), path, entries.get(path))
    for path, enum in entries.items():
        _walk(resource_type, body, path.split("."), path, enum)
    return body


def _walk(resource_type: str, node: Any, steps: list[str], path: str, enum) -> None:
    if not isinstance(node, dict) or not steps:
        return
    step, rest = steps[0], steps[1:]
    name, each = (step[:-2], True) if step.endswith("[]") else (step, False)
    key = _canonical_key(node, name)
    if key is None:
        return
    value = node[key]
    if each:
        for item in value if isinstance(value, list) else []:
            _walk(resource_type, item, rest, path, enum)
    elif rest:
        _walk(resource_type, value, rest, path, enum)
    elif enum is not None and isinstance(value, str) and not _is_expression(value):
        node[key] = _member(resource_type, enum, value, path)


def _canonical_key(node: dict[str, Any], name: str) -> str | None:
    """Rename a key written in another case to `name`; None when absent."""
    if name in node:
        return name
    other = next((k for k in node if isinstance(k, str) and k.lower() == name.lower()), None)
    if other is None:
        return None
    node[name] = node.pop(other)
    return name


def _member(resource_type: str, enum, value: str, path: str) -> str:
    type_name, members = enum
    wanted = value.replace(" ", "").lower()
    for member in members:
        if member.replace(" ", "").lower() == wanted:
            return member
    status, code, template = _REFUSAL.get(resource_type.split("/")[0].lower(), _REFUSAL["microsoft.resources"])
    detail = f"Error converting value \"{value}\" to type '{type_name}'. Path '{path.replace('[]', '[0]')}'."
    raise ArmError(status, code, template.format(detail=detail), target=path.replace("[]", ""))


def _is_expression(value: str) -> bool:
    return value.startswith("[") and value.endswith("]") and not value.startswith("[[")
