"""A flow that uses only azure-identity and azure-mgmt-* clients, with a subscription id of its own.

Run it against either door of the emulator:

    python examples/own_subscription.py --in-process
    python examples/own_subscription.py --endpoint ~/.dsvmctl/emulator/endpoint.json

It creates a resource group, a network and a VM, resizes the VM across CPU -> GPU (deallocate,
resize, start), checks the OS disk survives, and deletes the group. It prints one JSON line.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys

SUBSCRIPTION_ID = "11111111-2222-3333-4444-555555555555"
SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHk3Gm0h5rXb5Wk3nN0t7lJw7b8JqkI1s0kq9u8mXc1a demo@example"


def run(credential, subscription_id: str, **client_kwargs) -> dict:
    from azure.mgmt.compute import ComputeManagementClient
    from azure.mgmt.network import NetworkManagementClient
    from azure.mgmt.resource.resources import ResourceManagementClient

    kwargs = {"polling_interval": 0, **client_kwargs}
    resources = ResourceManagementClient(credential, subscription_id, **kwargs)
    network = NetworkManagementClient(credential, subscription_id, **kwargs)
    compute = ComputeManagementClient(credential, subscription_id, **kwargs)

    resources.resource_groups.create_or_update("demo-rg", {"location": "eastus"})
    # Bodies in the wire shape (camelCase, `properties`): what the TypeSpec-generated clients send as is.
    vnet = network.virtual_networks.begin_create_or_update("demo-rg", "vnet", {
        "location": "eastus", "properties": {"addressSpace": {"addressPrefixes": ["10.1.0.0/16"]},
                                             "subnets": [{"name": "default",
                                                          "properties": {"addressPrefix": "10.1.0.0/24"}}]}}).result()
    nic = network.network_interfaces.begin_create_or_update("demo-rg", "nic", {
        "location": "eastus", "properties": {"ipConfigurations": [
            {"name": "ipconfig1", "properties": {"subnet": {"id": vnet.subnets[0].id}}}]}}).result()
    vm = compute.virtual_machines.begin_create_or_update("demo-rg", "vm1", {"location": "eastus", "properties": {
        "hardwareProfile": {"vmSize": "Standard_DS1_v2"},
        "storageProfile": {"imageReference": {"publisher": "Canonical", "offer": "0001-com-ubuntu-server-jammy",
                                              "sku": "22_04-lts-gen2", "version": "latest"}},
        "osProfile": {"computerName": "vm1", "adminUsername": "azureuser", "linuxConfiguration": {
            "disablePasswordAuthentication": True,
            "ssh": {"publicKeys": [{"path": "/home/azureuser/.ssh/authorized_keys", "keyData": SSH_KEY}]}}},
        "networkProfile": {"networkInterfaces": [{"id": nic.id}]}}}).result()
    os_disk = vm.storage_profile.os_disk.managed_disk.id
    compute.virtual_machines.begin_deallocate("demo-rg", "vm1").result()
    compute.virtual_machines.begin_update("demo-rg", "vm1", {"properties": {"hardwareProfile": {"vmSize": "Standard_DS2_v2"}}}).result()
    compute.virtual_machines.begin_start("demo-rg", "vm1").result()
    after = compute.virtual_machines.get("demo-rg", "vm1", expand="instanceView")
    publishers = [p.name for p in compute.virtual_machine_images.list_publishers("eastus")]
    resources.resource_groups.begin_delete("demo-rg").result()
    return {
        "subscription_in_ids": vm.id.lower().startswith(f"/subscriptions/{subscription_id}/".lower()),
        "size_after": after.hardware_profile.vm_size,
        "os_disk_kept": after.storage_profile.os_disk.managed_disk.id == os_disk,
        "power": [s.code for s in after.instance_view.statuses if s.code.startswith("PowerState/")],
        "canonical_listed": "Canonical" in publishers,
        "group_left": resources.resource_groups.check_existence("demo-rg"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    door = parser.add_mutually_exclusive_group(required=True)
    door.add_argument("--in-process", action="store_true", help="dsvmctl.testing.mock_azure (no server)")
    door.add_argument("--endpoint", help="endpoint.json written by `dsvmctl emulator serve`")
    args = parser.parse_args(argv)

    from azure.identity import ClientSecretCredential

    if args.in_process:
        from dsvmctl.testing import mock_azure

        with mock_azure():  # any app id and secret are accepted in-process
            credential = ClientSecretCredential("72f988bf-0000-0000-0000-00000000e0e0", "my-app", "my-secret")
            print(json.dumps(run(credential, SUBSCRIPTION_ID)))
        return 0
    with open(args.endpoint) as handle:
        endpoint = json.load(handle)
    credential = ClientSecretCredential(endpoint["tenant_id"], endpoint["client_id"], endpoint["client_secret"],
                                        authority=endpoint["authority_host"], connection_verify=endpoint["ca_bundle"],
                                        disable_instance_discovery=True)
    with contextlib.closing(credential):
        print(json.dumps(run(credential, SUBSCRIPTION_ID, base_url=endpoint["arm_endpoint"],
                             connection_verify=endpoint["ca_bundle"],
                             credential_scopes=[endpoint["credential_scope"]])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
