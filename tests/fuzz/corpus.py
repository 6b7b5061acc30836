"""Valid requests for every writable emulator type, the seeds the fuzzers mutate.

`ready_emulator()` is an in-process Emulator holding what the bodies refer to (a group, a
network, a NIC, a VM, a disk); `WRITES` lists (method, path, body) with paths relative to the
group's provider root, so each fuzzer can aim them at any door.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from dsvmctl.emulator.core import Emulator
from dsvmctl.emulator.wire import Request, Response

SUB = "00000000-0000-0000-0000-000000000001"
RG = f"/subscriptions/{SUB}/resourceGroups/rg"
NET = f"{RG}/providers/Microsoft.Network"
COMPUTE = f"{RG}/providers/Microsoft.Compute"
SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHk3Gm0h5rXb5Wk3nN0t7lJw7b8JqkI1s0kq9u8mXc1a fuzz@dsvmctl"
IMAGE = {"publisher": "microsoft-dsvm", "offer": "ubuntu-2204", "sku": "2204-gen2", "version": "latest"}


def _vm(nic_name: str = "nic1") -> dict[str, Any]:
    return {"location": "eastus", "tags": {"owner": "fuzz"}, "properties": {
        "hardwareProfile": {"vmSize": "Standard_D4ds_v5"},
        "storageProfile": {"imageReference": dict(IMAGE),
                           "osDisk": {"createOption": "FromImage", "deleteOption": "Delete", "diskSizeGB": 64,
                                      "managedDisk": {"storageAccountType": "Premium_LRS"}}},
        "osProfile": {"computerName": "vm1", "adminUsername": "azureuser", "customData": "IyEvYmluL3NoCg==",
                      "linuxConfiguration": {"disablePasswordAuthentication": True, "ssh": {"publicKeys": [
                          {"path": "/home/azureuser/.ssh/authorized_keys", "keyData": SSH_KEY}]}}},
        "networkProfile": {"networkInterfaces": [{"id": f"{NET}/networkInterfaces/{nic_name}",
                                                  "properties": {"primary": True, "deleteOption": "Delete"}}]},
        "securityProfile": {"securityType": "TrustedLaunch", "uefiSettings": {"secureBootEnabled": True}}}}


def _template() -> dict[str, Any]:
    return {"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
            "contentVersion": "1.0.0.0",
            "parameters": {"prefix": {"type": "string", "defaultValue": "10.9.0.0/16"},
                           "count": {"type": "int", "defaultValue": 2, "minValue": 1}},
            "variables": {"name": "[concat('vnet-', uniqueString(resourceGroup().id))]"},
            "resources": [{"type": "Microsoft.Network/virtualNetworks", "apiVersion": "2024-05-01",
                           "name": "[variables('name')]", "location": "[resourceGroup().location]",
                           "properties": {"addressSpace": {"addressPrefixes": ["[parameters('prefix')]"]}}},
                          {"type": "Microsoft.Network/networkSecurityGroups", "apiVersion": "2024-05-01",
                           "name": "[format('nsg{0}', copyIndex())]", "location": "eastus",
                           "copy": {"name": "nsgs", "count": "[parameters('count')]"},
                           "dependsOn": ["[resourceId('Microsoft.Network/virtualNetworks', variables('name'))]"]}],
            "outputs": {"id": {"type": "string", "value": "[resourceId('Microsoft.Network/virtualNetworks', "
                                                           "variables('name'))]"}}}


# (method, path under the subscription, api-version, a valid body)
WRITES: list[tuple[str, str, str, Any]] = [
    ("PUT", RG, "2024-11-01", {"location": "eastus", "tags": {"team": "ml"}}),
    ("PATCH", RG, "2024-11-01", {"tags": {"team": "ml2"}}),
    ("PUT", f"{NET}/virtualNetworks/vnet", "2024-05-01", {"location": "eastus", "properties": {
        "addressSpace": {"addressPrefixes": ["10.0.0.0/16"]},
        "subnets": [{"name": "default", "properties": {"addressPrefix": "10.0.0.0/24"}}]}}),
    ("PUT", f"{NET}/virtualNetworks/vnet/subnets/second", "2024-05-01",
     {"properties": {"addressPrefix": "10.0.1.0/24"}}),
    ("PATCH", f"{NET}/virtualNetworks/vnet", "2024-05-01", {"tags": {"a": "b"}}),
    ("PUT", f"{NET}/networkSecurityGroups/nsg", "2024-05-01", {"location": "eastus", "properties": {
        "securityRules": [{"name": "ssh", "properties": {
            "protocol": "Tcp", "access": "Allow", "direction": "Inbound", "priority": 100,
            "sourceAddressPrefix": "198.51.100.7/32", "sourcePortRange": "*", "destinationAddressPrefix": "*",
            "destinationPortRange": "22", "destinationPortRanges": [], "sourceAddressPrefixes": []}}]}}),
    ("PUT", f"{NET}/networkSecurityGroups/nsg/securityRules/https", "2024-05-01", {"properties": {
        "protocol": "Tcp", "access": "Allow", "direction": "Inbound", "priority": 110,
        "sourceAddressPrefix": "198.51.100.7/32", "sourcePortRange": "*", "destinationAddressPrefix": "*",
        "destinationPortRange": "443"}}),
    ("PUT", f"{NET}/publicIPAddresses/ip", "2024-05-01", {"location": "eastus", "sku": {"name": "Standard"},
     "properties": {"publicIPAllocationMethod": "Static", "dnsSettings": {"domainNameLabel": "fuzzlab"}}}),
    ("PUT", f"{NET}/networkInterfaces/nic2", "2024-05-01", {"location": "eastus", "properties": {
        "ipConfigurations": [{"name": "ipconfig1", "properties": {
            "subnet": {"id": f"{NET}/virtualNetworks/vnet/subnets/default"},
            "privateIPAllocationMethod": "Dynamic"}}],
        "networkSecurityGroup": {"id": f"{NET}/networkSecurityGroups/nsg"},
        "enableAcceleratedNetworking": False}}),
    ("PUT", f"{COMPUTE}/virtualMachines/vm2", "2025-04-01", _vm("nic2")),
    ("PATCH", f"{COMPUTE}/virtualMachines/vm1", "2025-04-01",
     {"tags": {"x": "y"}, "properties": {"hardwareProfile": {"vmSize": "Standard_D8ds_v5"}}}),
    ("POST", f"{COMPUTE}/virtualMachines/vm1/runCommand", "2025-04-01",
     {"commandId": "RunShellScript", "script": ["echo hi"], "parameters": [{"name": "a", "value": "b"}]}),
    ("POST", f"{COMPUTE}/virtualMachines/vm1/deallocate", "2025-04-01", None),
    ("PUT", f"{COMPUTE}/virtualMachines/vm1/runCommands/rc", "2025-04-01", {"location": "eastus", "properties": {
        "source": {"script": "echo hi"}, "asyncExecution": False, "timeoutInSeconds": 60}}),
    ("PUT", f"{COMPUTE}/virtualMachines/vm1/extensions/ext", "2025-04-01", {"location": "eastus", "properties": {
        "publisher": "Microsoft.Azure.Extensions", "type": "CustomScript", "typeHandlerVersion": "2.1",
        "settings": {"commandToExecute": "echo hi"}}}),
    ("PUT", f"{COMPUTE}/disks/data1", "2025-04-01", {"location": "eastus", "sku": {"name": "Premium_LRS"},
     "properties": {"creationData": {"createOption": "Empty"}, "diskSizeGB": 32}}),
    ("PATCH", f"{COMPUTE}/disks/data1", "2025-04-01", {"properties": {"diskSizeGB": 64}, "tags": {"k": "v"}}),
    ("PUT", f"{RG}/providers/Microsoft.DevTestLab/schedules/shutdown-computevm-vm1", "2018-09-15", {
        "location": "eastus", "properties": {"status": "Enabled", "taskType": "ComputeVmShutdownTask",
                                             "dailyRecurrence": {"time": "1900"}, "timeZoneId": "UTC",
                                             "targetResourceId": f"{COMPUTE}/virtualMachines/vm1",
                                             "notificationSettings": {"status": "Disabled"}}}),
    ("PATCH", f"{RG}/providers/Microsoft.DevTestLab/schedules/shutdown-computevm-vm1", "2018-09-15",
     {"properties": {"status": "Disabled"}}),
    ("PUT", f"{RG}/providers/Microsoft.Resources/deployments/dep", "2024-11-01",
     {"properties": {"mode": "Incremental", "template": _template(), "parameters": {"count": {"value": 1}}}}),
    ("POST", f"{RG}/providers/Microsoft.Resources/deployments/dep/validate", "2024-11-01",
     {"properties": {"mode": "Incremental", "template": _template(), "parameters": {}}}),
    ("POST", f"{RG}/providers/Microsoft.Resources/deployments/dep/whatIf", "2024-11-01",
     {"properties": {"mode": "Complete", "template": _template(), "parameters": {"prefix": {"value": "10.1.0.0/16"}}}}),
    ("POST", f"/subscriptions/{SUB}/providers/Microsoft.Compute/register", "2024-11-01", None),
]


def request(method: str, path: str, api_version: str, body: Any = None, *, raw: bytes | None = None,
            base: str = "https://management.azure.com") -> Request:
    data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
    return Request(method, f"{base}{path}?api-version={api_version}", {"Content-Type": "application/json"}, data)


def ready_emulator(**options: Any) -> Emulator:
    """An emulator holding the group, network, NIC and VM the WRITES refer to."""
    em = Emulator(**options)
    setup = [
        ("PUT", RG, "2024-11-01", {"location": "eastus"}),
        ("PUT", f"{NET}/virtualNetworks/vnet", "2024-05-01", WRITES[2][3]),
        ("PUT", f"{NET}/networkSecurityGroups/nsg", "2024-05-01", WRITES[5][3]),
        ("PUT", f"{NET}/publicIPAddresses/ip", "2024-05-01", WRITES[7][3]),
        ("PUT", f"{NET}/networkInterfaces/nic1", "2024-05-01", {"location": "eastus", "properties": {
            "ipConfigurations": [{"name": "ipconfig1", "properties": {
                "subnet": {"id": f"{NET}/virtualNetworks/vnet/subnets/default"},
                "publicIPAddress": {"id": f"{NET}/publicIPAddresses/ip"}}}]}}),
        ("PUT", f"{COMPUTE}/virtualMachines/vm1", "2025-04-01", _vm("nic1")),
    ]
    for method, path, version, body in setup:
        response = em.handle(request(method, path, version, body))
        assert response.status < 300, (path, response.body)
    return em


def seeds() -> list[tuple[str, str, str, Any]]:
    return copy.deepcopy(WRITES)


def is_arm_error(response: Response) -> bool:
    body = response.body
    return (isinstance(body, dict) and set(body) == {"error"} and isinstance(body["error"], dict)
            and isinstance(body["error"].get("code"), str) and isinstance(body["error"].get("message"), str))
