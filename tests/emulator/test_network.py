"""Microsoft.Network as the recorded Azure traffic shows it (issue 10): what the Network RP computes
(back-references, zones, DNS names), its LROs, and kinds the recordings create, through the SDK."""

from __future__ import annotations

import pytest

from .builders import network_for_vm, public_ip, vnet

NET = "/providers/Microsoft.Network"


@pytest.fixture
def group(door):
    door.resource_client().resource_groups.create_or_update("rg", {"location": "eastus"})
    return door


def test_a_zonal_public_ip_keeps_its_zones(group):
    network = group.network_client()
    ip = network.public_ip_addresses.begin_create_or_update("rg", "ip", {**public_ip(), "zones": ["1", "2"]}).result()
    assert ip.zones == ["1", "2"]
    assert network.public_ip_addresses.get("rg", "ip").zones == ["1", "2"]
    assert network.public_ip_addresses.begin_create_or_update("rg", "plain", public_ip()).result().zones is None


def test_a_nic_with_an_internal_dns_label_gets_its_internal_fqdn(door):
    network_for_vm(door)
    network = door.network_client()
    nic = network.network_interfaces.get("rg", "nic1")
    assert nic.dns_settings.internal_fqdn is None
    nic.dns_settings.internal_dns_name_label = "node0"
    updated = network.network_interfaces.begin_create_or_update("rg", "nic1", nic).result()
    suffix = updated.dns_settings.internal_domain_name_suffix
    assert updated.dns_settings.internal_fqdn == f"node0.{suffix}"


def test_check_ip_address_availability_says_when_an_address_is_azures_own(group):
    network = group.network_client()
    network.virtual_networks.begin_create_or_update("rg", "vnet", vnet()).result()
    first = network.virtual_networks.check_ip_address_availability("rg", "vnet", ip_address="10.0.0.0")
    assert (first.available, first.is_platform_reserved) == (False, True)
    free = network.virtual_networks.check_ip_address_availability("rg", "vnet", ip_address="10.0.0.50")
    assert (free.available, free.is_platform_reserved) == (True, False)


def test_deleting_a_child_resource_is_polled_at_its_operation_result_url(group):
    network = group.network_client()
    network.virtual_networks.begin_create_or_update("rg", "vnet", vnet()).result()
    response = group.request("DELETE", group.rg_path("rg", f"{NET}/virtualNetworks/vnet/subnets/default"))
    assert response.status_code == 202
    location = response.headers["Location"]
    assert "/operationResults/" in location and location != response.headers["Azure-AsyncOperation"]
    group.emulator.complete_due_operations()
    assert group.request("GET", location[len(group.base_url):], api_version=None).status_code == 204


def test_a_ddos_plan_lists_the_networks_it_protects_and_cannot_go_while_it_does(group):
    network = group.network_client()
    plan = network.ddos_protection_plans.begin_create_or_update("rg", "ddos", {"location": "eastus"}).result()
    assert plan.virtual_networks is None
    body = vnet()
    body["properties"].update(enableDdosProtection=True, ddosProtectionPlan={"id": plan.id})
    protected = network.virtual_networks.begin_create_or_update("rg", "vnet", body).result()
    assert [v.id for v in network.ddos_protection_plans.get("rg", "ddos").virtual_networks] == [protected.id]
    response = group.request("DELETE", group.rg_path("rg", f"{NET}/ddosProtectionPlans/ddos"))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "InUseDdosProtectionPlanCannotBeDeleted"
    network.virtual_networks.begin_delete("rg", "vnet").result()
    network.ddos_protection_plans.begin_delete("rg", "ddos").result()
    assert list(network.ddos_protection_plans.list_by_resource_group("rg")) == []


def test_an_nsg_lists_the_subnets_it_guards_and_cannot_go_while_it_does(group):
    network = group.network_client()
    nsg = network.network_security_groups.begin_create_or_update("rg", "nsg", {"location": "eastus"}).result()
    body = vnet()
    body["properties"]["subnets"][0]["properties"]["networkSecurityGroup"] = {"id": nsg.id}
    subnet = network.virtual_networks.begin_create_or_update("rg", "vnet", body).result().subnets[0]
    assert [s.id for s in network.network_security_groups.get("rg", "nsg").subnets] == [subnet.id]
    response = group.request("DELETE", group.rg_path("rg", f"{NET}/networkSecurityGroups/nsg"))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "InUseNetworkSecurityGroupCannotBeDeleted"


def _scale_set_behind(group, lb_id: str, subnet_id: str, capacity: int = 2):
    ip = {"subnet": {"id": subnet_id},
          "loadBalancerBackendAddressPools": [{"id": f"{lb_id}/backendAddressPools/pool"}],
          "loadBalancerInboundNatPools": [{"id": f"{lb_id}/inboundNatPools/ssh"}]}
    return group.compute_client().virtual_machine_scale_sets.begin_create_or_update("rg", "ss", {
        "location": "eastus", "sku": {"name": "Standard_D4ds_v5", "capacity": capacity},
        "properties": {"upgradePolicy": {"mode": "Manual"}, "virtualMachineProfile": {
            "storageProfile": {"imageReference": {"publisher": "Canonical", "offer": "ubuntu-24_04-lts",
                                                  "sku": "server", "version": "latest"}},
            "osProfile": {"computerNamePrefix": "ss", "adminUsername": "azureuser", "adminPassword": "N0t-real-Pw!"},
            "networkProfile": {"networkInterfaceConfigurations": [{"name": "nic", "properties": {
                "primary": True, "ipConfigurations": [{"name": "ip", "properties": ip}]}}]}}}}).result()


def test_a_load_balancer_shows_the_scale_set_instances_behind_it_and_their_nat_rules(group):
    network = group.network_client()
    lb_id = group.rg_path("rg", f"{NET}/loadBalancers/lb")
    subnet = network.virtual_networks.begin_create_or_update("rg", "vnet", vnet()).result().subnets[0]
    address = network.public_ip_addresses.begin_create_or_update("rg", "ip", public_ip()).result()
    network.load_balancers.begin_create_or_update("rg", "lb", {"location": "eastus", "sku": {"name": "Standard"},
        "properties": {
            "frontendIPConfigurations": [{"name": "fe", "properties": {"publicIPAddress": {"id": address.id}}}],
            "backendAddressPools": [{"name": "pool"}],
            "inboundNatPools": [{"name": "ssh", "properties": {
                "frontendIPConfiguration": {"id": f"{lb_id}/frontendIPConfigurations/fe"}, "protocol": "Tcp",
                "frontendPortRangeStart": 50000, "frontendPortRangeEnd": 50099, "backendPort": 22}}]}}).result()
    assert network.public_ip_addresses.get("rg", "ip").ip_configuration.id == f"{lb_id}/frontendIPConfigurations/fe"
    held = group.request("DELETE", group.rg_path("rg", f"{NET}/publicIPAddresses/ip"))
    assert (held.status_code, held.json()["error"]["code"]) == (400, "PublicIPAddressCannotBeDeleted")

    scale_set = _scale_set_behind(group, lb_id, subnet.id)
    config = scale_set.id + "/virtualMachines/{}/networkInterfaces/nic/ipConfigurations/ip"
    lb = network.load_balancers.get("rg", "lb")
    assert [c.id for c in lb.backend_address_pools[0].backend_ip_configurations] == [config.format(0),
                                                                                     config.format(1)]
    rules = {r.name: r for r in lb.inbound_nat_rules}
    assert sorted(rules) == ["ssh.0", "ssh.1"]
    assert (rules["ssh.1"].frontend_port, rules["ssh.1"].backend_port) == (50001, 22)
    assert rules["ssh.1"].backend_ip_configuration.id == config.format(1)
    assert {r.id for r in lb.frontend_ip_configurations[0].inbound_nat_rules} == {r.id for r in rules.values()}
    shown = network.subnets.get("rg", "vnet", "default")
    assert [c.id for c in shown.ip_configurations] == [config.format(0), config.format(1)]

    group.compute_client().virtual_machine_scale_sets.begin_delete("rg", "ss").result()
    lb = network.load_balancers.get("rg", "lb")
    assert lb.backend_address_pools[0].backend_ip_configurations is None and lb.inbound_nat_rules == []
