"""ARM takes enum values and property names in any case and answers in canonical casing;
a value outside its enum is refused with the deserializer's message."""

from __future__ import annotations

import time

import pytest

from dsvmctl.emulator.normalize import TABLE, normalize
from dsvmctl.emulator.wire import ArmError

from .builders import SSH_KEY, UBUNTU_2204, network_for_vm


def _wait(door, path: str, api_version: str = "2024-07-01") -> dict:
    for _ in range(100):
        body = door.request("GET", path, api_version=api_version).json()
        if body.get("properties", {}).get("provisioningState") not in ("Creating", "Updating", "Accepted", "Running"):
            return body
        time.sleep(0.02)
    return body


def test_wrong_case_enums_and_names_on_a_vm_are_taken_and_answered_canonically(door):
    nic_id = network_for_vm(door, "rg")
    body = {"LOCATION": "eastus", "Properties": {
        "hardwareProfile": {"vmsize": "standard_d4ds_v5"},
        "priority": "regular",
        "storageProfile": {"imageReference": UBUNTU_2204, "osDisk": {
            "createOption": "fromimage", "caching": "readwrite", "deleteOption": "delete",
            "managedDisk": {"storageAccountType": "premium_lrs"}}},
        "osProfile": {"computerName": "vm1", "adminUsername": "azureuser", "linuxConfiguration": {
            "disablePasswordAuthentication": True,
            "ssh": {"publicKeys": [{"path": "/home/azureuser/.ssh/authorized_keys", "keyData": SSH_KEY}]}}},
        "networkProfile": {"networkInterfaces": [{"id": nic_id}]}}}
    path = door.rg_path("rg", "/providers/microsoft.compute/VIRTUALMACHINES/vm1")
    response = door.request("PUT", path, body, api_version="2024-07-01")
    assert response.status_code == 201, response.text
    vm = _wait(door, path)
    assert vm["type"] == "Microsoft.Compute/virtualMachines" and vm["location"] == "eastus"
    os_disk = vm["properties"]["storageProfile"]["osDisk"]
    assert (os_disk["caching"], os_disk["deleteOption"], os_disk["createOption"]) == ("ReadWrite", "Delete", "FromImage")
    assert os_disk["managedDisk"]["storageAccountType"] == "Premium_LRS"
    assert vm["properties"]["hardwareProfile"]["vmSize"] == "Standard_D4ds_v5"
    assert vm["properties"]["priority"] == "Regular"


def test_wrong_case_network_enums_are_taken(door):
    door.resource_client().resource_groups.create_or_update("rg", {"location": "eastus"})
    path = door.rg_path("rg", "/providers/Microsoft.Network/publicIPAddresses/ip1")
    response = door.request("PUT", path, {"location": "eastus", "sku": {"name": "standard", "tier": "regional"},
                                          "properties": {"publicIPAllocationMethod": "static",
                                                         "publicIPAddressVersion": "ipv4"}})
    assert response.status_code == 201, response.text
    ip = response.json()
    assert ip["sku"] == {"name": "Standard", "tier": "Regional"}
    assert ip["properties"]["publicIPAllocationMethod"] == "Static"
    assert ip["properties"]["publicIPAddressVersion"] == "IPv4"
    nsg = door.request("PUT", door.rg_path("rg", "/providers/Microsoft.Network/networkSecurityGroups/nsg1"), {
        "location": "eastus", "properties": {"securityRules": [{"name": "ssh", "properties": {
            "protocol": "tcp", "access": "allow", "direction": "inbound", "priority": 100,
            "sourceAddressPrefix": "*", "sourcePortRange": "*", "destinationAddressPrefix": "*",
            "destinationPortRange": "22"}}]}}).json()
    rule = nsg["properties"]["securityRules"][0]["properties"]
    assert (rule["protocol"], rule["access"], rule["direction"]) == ("Tcp", "Allow", "Inbound")


def test_a_lower_case_deployment_mode_deploys_as_az_sends_it(door):
    door.resource_client().resource_groups.create_or_update("rg", {"location": "eastus"})
    path = door.rg_path("rg", "/providers/Microsoft.Resources/deployments/d1")
    template = {"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
                "contentVersion": "1.0.0.0", "resources": []}
    response = door.request("PUT", path, {"properties": {"mode": "incremental", "template": template}},
                            api_version="2022-09-01")
    assert response.status_code == 201, response.text
    assert response.json()["properties"]["mode"] == "Incremental"
    valid = door.request("POST", path + "/validate", {"properties": {"mode": "COMPLETE", "template": template}},
                         api_version="2022-09-01")
    assert valid.status_code == 200, valid.text


@pytest.mark.parametrize("resource, body, code, needle", [
    ("/providers/Microsoft.Resources/deployments/d1",
     {"properties": {"mode": "sometimes", "template": {"resources": []}}},
     "InvalidRequestContent", "Error converting value \"sometimes\" to type 'DeploymentMode'. Path 'properties.mode'"),
    ("/providers/Microsoft.Network/publicIPAddresses/ip1",
     {"location": "eastus", "sku": {"name": "Standard"}, "properties": {"publicIPAllocationMethod": "elastic"}},
     "InvalidRequestFormat", "Error converting value \"elastic\" to type 'IPAllocationMethod'"),
    ("/providers/Microsoft.Compute/disks/d1",
     {"location": "eastus", "sku": {"name": "Premium"}, "properties": {"creationData": {"createOption": "Empty"},
                                                                       "diskSizeGB": 8}},
     "BadRequest", "Error converting value \"Premium\" to type 'StorageAccountTypes'. Path 'sku.name'"),
])
def test_a_value_outside_its_enum_is_refused_with_the_deserializers_message(door, resource, body, code, needle):
    door.resource_client().resource_groups.create_or_update("rg", {"location": "eastus"})
    response = door.request("PUT", door.rg_path("rg", resource), body, api_version="2022-09-01")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    assert needle in response.json()["error"]["message"]


def test_template_expressions_and_template_bodies_are_left_alone():
    body = {"properties": {"mode": "incremental", "template": {"Resources": [{"Type": "x"}]},
                           "parameters": {"p": {"value": "premium_lrs"}}}}
    out = normalize("microsoft.resources/deployments", body)
    assert out["properties"]["template"] == {"Resources": [{"Type": "x"}]}
    assert out["properties"]["parameters"] == {"p": {"value": "premium_lrs"}}
    vm = normalize("microsoft.compute/virtualmachines",
                   {"properties": {"priority": "[parameters('priority')]"}})
    assert vm["properties"]["priority"] == "[parameters('priority')]"


def test_every_enum_in_the_table_has_distinct_members_under_case_folding():
    for entries in TABLE.values():
        for enum in entries.values():
            if enum is not None:
                name, members = enum
                folded = [m.lower() for m in dict.fromkeys(members)]
                assert len(folded) == len(set(folded)), name


def test_an_unknown_value_names_its_path_as_target():
    with pytest.raises(ArmError) as refused:
        normalize("microsoft.compute/virtualmachines",
                  {"properties": {"storageProfile": {"dataDisks": [{"caching": "sometimes"}]}}})
    assert refused.value.target == "properties.storageProfile.dataDisks.caching"
