"""Wire-shaped request bodies (the SDK's TypeSpec models take camelCase + `properties`)."""

from __future__ import annotations

from typing import Any

SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHk3Gm0h5rXb5Wk3nN0t7lJw7b8JqkI1s0kq9u8mXc1a test@dsvmctl"
UBUNTU_2204 = {"publisher": "microsoft-dsvm", "offer": "ubuntu-2204", "sku": "2204-gen2", "version": "latest"}
UBUNTU_2004_GEN1 = {"publisher": "microsoft-dsvm", "offer": "ubuntu-2004", "sku": "2004", "version": "latest"}
WIN_2022 = {"publisher": "microsoft-dsvm", "offer": "dsvm-win-2022", "sku": "winserver-2022", "version": "latest"}


def vnet(prefix: str = "10.0.0.0/16", subnet: str = "10.0.0.0/24", location: str = "eastus") -> dict[str, Any]:
    return {"location": location, "properties": {"addressSpace": {"addressPrefixes": [prefix]},
            "subnets": [{"name": "default", "properties": {"addressPrefix": subnet}}]}}


def nsg(source: str = "198.51.100.7/32") -> dict[str, Any]:
    return {"location": "eastus", "properties": {"securityRules": [{"name": "ssh", "properties": {
        "protocol": "Tcp", "access": "Allow", "direction": "Inbound", "priority": 100,
        "sourceAddressPrefix": source, "sourcePortRange": "*", "destinationAddressPrefix": "*",
        "destinationPortRange": "22"}}]}}


def public_ip() -> dict[str, Any]:
    return {"location": "eastus", "sku": {"name": "Standard"}, "properties": {"publicIPAllocationMethod": "Static"}}


def nic(subnet_id: str, nsg_id: str | None = None, ip_id: str | None = None,
        accelerated: bool = False) -> dict[str, Any]:
    config: dict[str, Any] = {"subnet": {"id": subnet_id}}
    if ip_id:
        config["publicIPAddress"] = {"id": ip_id}
    props: dict[str, Any] = {"ipConfigurations": [{"name": "ipconfig1", "properties": config}],
                             "enableAcceleratedNetworking": accelerated}
    if nsg_id:
        props["networkSecurityGroup"] = {"id": nsg_id}
    return {"location": "eastus", "properties": props}


def linux_vm(nic_id: str, size: str = "Standard_D4ds_v5", image: dict | None = None,
             name: str = "vm1") -> dict[str, Any]:
    return {"location": "eastus", "properties": {
        "hardwareProfile": {"vmSize": size},
        "storageProfile": {"imageReference": image or UBUNTU_2204, "osDisk": {"createOption": "FromImage"}},
        "osProfile": {"computerName": name, "adminUsername": "azureuser", "linuxConfiguration": {
            "disablePasswordAuthentication": True,
            "ssh": {"publicKeys": [{"path": "/home/azureuser/.ssh/authorized_keys", "keyData": SSH_KEY}]}}},
        "networkProfile": {"networkInterfaces": [{"id": nic_id}]}}}


def windows_vm(nic_id: str, computer_name: str, size: str = "Standard_D4ds_v5") -> dict[str, Any]:
    return {"location": "eastus", "properties": {
        "hardwareProfile": {"vmSize": size},
        "storageProfile": {"imageReference": WIN_2022, "osDisk": {"createOption": "FromImage"}},
        "osProfile": {"computerName": computer_name, "adminUsername": "dsvmadmin",
                      "adminPassword": "N0t-a-real-Passw0rd!"},
        "networkProfile": {"networkInterfaces": [{"id": nic_id}]}}}


def network_for_vm(door, group: str = "rg", nic_name: str = "nic1", accelerated: bool = False) -> str:
    """Create group, vnet, NSG, IP and NIC through the SDK; return the NIC id."""
    door.resource_client().resource_groups.create_or_update(group, {"location": "eastus"})
    network = door.network_client()
    subnet_id = network.virtual_networks.begin_create_or_update(group, "vnet", vnet()).result().subnets[0].id
    nsg_id = network.network_security_groups.begin_create_or_update(group, "nsg", nsg()).result().id
    ip_id = network.public_ip_addresses.begin_create_or_update(group, f"{nic_name}-ip", public_ip()).result().id
    return network.network_interfaces.begin_create_or_update(
        group, nic_name, nic(subnet_id, nsg_id, ip_id, accelerated)).result().id
