"""Microsoft.Network as the recorded Azure traffic shows it (issue 10): what the Network RP computes
(back-references, zones, DNS names), its LROs, and kinds the recordings create, through the SDK."""

from __future__ import annotations

import pytest

from .builders import linux_vm, network_for_vm, public_ip, vnet

NET = "/providers/Microsoft.Network"


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


def _scale_set_behind(group, lb_id: str, subnet_id: str, capacity: int = 2, nsg_id: str | None = None):
    ip = {"subnet": {"id": subnet_id},
          "loadBalancerBackendAddressPools": [{"id": f"{lb_id}/backendAddressPools/pool"}],
          "loadBalancerInboundNatPools": [{"id": f"{lb_id}/inboundNatPools/ssh"}]}
    nic = {"primary": True, "ipConfigurations": [{"name": "ip", "properties": ip}],
           **({"networkSecurityGroup": {"id": nsg_id}} if nsg_id else {})}
    return group.compute_client().virtual_machine_scale_sets.begin_create_or_update("rg", "ss", {
        "location": "eastus", "sku": {"name": "Standard_D4ds_v5", "capacity": capacity},
        "properties": {"upgradePolicy": {"mode": "Manual"}, "virtualMachineProfile": {
            "storageProfile": {"imageReference": {"publisher": "Canonical", "offer": "ubuntu-24_04-lts",
                                                  "sku": "server", "version": "latest"}},
            "osProfile": {"computerNamePrefix": "ss", "adminUsername": "azureuser", "adminPassword": "N0t-real-Pw!"},
            "networkProfile": {"networkInterfaceConfigurations": [{"name": "nic", "properties": nic}]}}}}).result()


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

    nsg = network.network_security_groups.begin_create_or_update("rg", "nsg", {"location": "eastus"}).result()
    scale_set = _scale_set_behind(group, lb_id, subnet.id, nsg_id=nsg.id)
    config = scale_set.id + "/virtualMachines/{}/networkInterfaces/nic/ipConfigurations/ip"
    assert [n.id for n in network.network_security_groups.get("rg", "nsg").network_interfaces] == [
        scale_set.id + f"/virtualMachines/{i}/networkInterfaces/nic" for i in (0, 1)]
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


def test_a_public_ip_prefix_is_given_its_own_range_of_the_asked_length(group):
    network = group.network_client()
    body = {"location": "eastus", "sku": {"name": "Standard"}, "zones": ["2"], "properties": {"prefixLength": 29}}
    first = network.public_ip_prefixes.begin_create_or_update("rg", "p1", body).result()
    second = network.public_ip_prefixes.begin_create_or_update("rg", "p2", body).result()
    assert (first.provisioning_state, first.sku.tier, first.zones, first.ip_tags) == ("Succeeded", "Regional", ["2"], [])
    assert first.ip_prefix.endswith("/29") and first.ip_prefix != second.ip_prefix
    again = network.public_ip_prefixes.begin_create_or_update("rg", "p1", {**body, "tags": {"a": "b"}}).result()
    assert again.ip_prefix == first.ip_prefix
    network.public_ip_prefixes.begin_delete("rg", "p2").result()
    assert [p.name for p in network.public_ip_prefixes.list("rg")] == ["p1"]


def _gateway_network(group):
    network = group.network_client()
    body = vnet("10.1.0.0/16", "10.1.0.0/24")
    body["properties"]["subnets"].append({"name": "GatewaySubnet", "properties": {"addressPrefix": "10.1.255.0/27"}})
    hub = network.virtual_networks.begin_create_or_update("rg", "hub", body).result()
    address = network.public_ip_addresses.begin_create_or_update("rg", "gwip", public_ip()).result()
    gateway = network.virtual_network_gateways.begin_create_or_update("rg", "gw", {
        "location": "eastus", "properties": {
            "gatewayType": "Vpn", "vpnType": "RouteBased", "sku": {"name": "VpnGw1", "tier": "VpnGw1"},
            "ipConfigurations": [{"name": "cfg", "properties": {
                "subnet": {"id": hub.subnets[1].id}, "publicIPAddress": {"id": address.id}}}]}}).result()
    return network, hub, address, gateway


def test_a_virtual_network_gateway_is_provisioned_with_its_ip_configurations_and_bgp_settings(group):
    network, hub, address, gateway = _gateway_network(group)
    assert (gateway.provisioning_state, gateway.sku.capacity, gateway.vpn_gateway_generation) == (
        "Succeeded", 2, "Generation1")
    config = gateway.ip_configurations[0]
    assert config.id == f"{gateway.id}/ipConfigurations/cfg" and config.subnet.id == hub.subnets[1].id
    peer = gateway.bgp_settings.bgp_peering_addresses[0]
    assert (gateway.bgp_settings.asn, peer.default_bgp_ip_addresses, peer.tunnel_ip_addresses) == (
        65515, ["10.1.255.30"], [address.ip_address])
    assert network.public_ip_addresses.get("rg", "gwip").ip_configuration.id == config.id
    assert [c.id for c in network.subnets.get("rg", "hub", "GatewaySubnet").ip_configurations] == [config.id]
    network.virtual_network_gateways.begin_delete("rg", "gw").result()
    assert list(network.virtual_network_gateways.list("rg")) == []


def test_a_peering_that_uses_the_remote_gateways_names_them(group):
    network, hub, _address, gateway = _gateway_network(group)
    spoke = network.virtual_networks.begin_create_or_update("rg", "spoke", vnet("10.2.0.0/16", "10.2.0.0/24")).result()
    network.virtual_network_peerings.begin_create_or_update("rg", "hub", "to-spoke", {"properties": {
        "remoteVirtualNetwork": {"id": spoke.id}, "allowGatewayTransit": True}}).result()
    network.virtual_network_peerings.begin_create_or_update("rg", "spoke", "to-hub", {"properties": {
        "remoteVirtualNetwork": {"id": hub.id}, "useRemoteGateways": True}}).result()
    # remoteGateways is read-only and not in the SDK's model: read the wire body.
    peerings = group.rg_path("rg", f"{NET}/virtualNetworks/{{}}/virtualNetworkPeerings/{{}}")
    uses = group.request("GET", peerings.format("spoke", "to-hub"), api_version="2022-01-01").json()["properties"]
    assert uses["remoteGateways"] == [{"id": gateway.id}]
    offers = group.request("GET", peerings.format("hub", "to-spoke"), api_version="2022-01-01").json()["properties"]
    assert "remoteGateways" not in offers


def test_a_rule_naming_its_pools_as_a_list_names_the_first_as_its_pool_too(group):
    network = group.network_client()
    lb_id = group.rg_path("rg", f"{NET}/loadBalancers/lb")
    subnet = network.virtual_networks.begin_create_or_update("rg", "vnet", vnet()).result().subnets[0]
    lb = network.load_balancers.begin_create_or_update("rg", "lb", {"location": "eastus", "properties": {
        "frontendIPConfigurations": [{"name": "fe", "properties": {"subnet": {"id": subnet.id}}}],
        "backendAddressPools": [{"name": "pool"}],
        "loadBalancingRules": [{"name": "r", "properties": {
            "frontendIPConfiguration": {"id": f"{lb_id}/frontendIPConfigurations/fe"},
            "backendAddressPools": [{"id": f"{lb_id}/backendAddressPools/pool"}],
            "protocol": "Tcp", "frontendPort": 80, "backendPort": 80}}]}}).result()
    assert lb.load_balancing_rules[0].backend_address_pool.id == f"{lb_id}/backendAddressPools/pool"
    assert [r.id for r in lb.backend_address_pools[0].load_balancing_rules] == [f"{lb_id}/loadBalancingRules/r"]
    assert lb.backend_address_pools[0].load_balancer_backend_addresses == []


def test_a_nat_rule_on_a_whole_pool_maps_one_port_per_member(group):
    network = group.network_client()
    lb_id = group.rg_path("rg", f"{NET}/loadBalancers/lb")
    subnet = network.virtual_networks.begin_create_or_update("rg", "vnet", vnet()).result().subnets[0]
    network.load_balancers.begin_create_or_update("rg", "lb", {"location": "eastus", "sku": {"name": "Standard"},
        "properties": {"frontendIPConfigurations": [{"name": "fe", "properties": {"subnet": {"id": subnet.id}}}],
                       "backendAddressPools": [{"name": "pool"}],
                       "inboundNatPools": [{"name": "ssh", "properties": {
                           "frontendIPConfiguration": {"id": f"{lb_id}/frontendIPConfigurations/fe"},
                           "protocol": "Tcp", "frontendPortRangeStart": 40000, "frontendPortRangeEnd": 40099,
                           "backendPort": 22}}]}}).result()
    rule = network.inbound_nat_rules.begin_create_or_update("rg", "lb", "nat", {"properties": {
        "frontendIPConfiguration": {"id": f"{lb_id}/frontendIPConfigurations/fe"},
        "backendAddressPool": {"id": f"{lb_id}/backendAddressPools/pool"}, "protocol": "Tcp",
        "frontendPortRangeStart": 50000, "frontendPortRangeEnd": 50099, "backendPort": 22}}).result()
    assert (rule.frontend_port, rule.enable_floating_ip) == (0, False)
    _scale_set_behind(group, lb_id, subnet.id)
    addresses = network.load_balancers.get("rg", "lb").backend_address_pools[0].load_balancer_backend_addresses
    assert [[(m.inbound_nat_rule_name, m.frontend_port) for m in a.inbound_nat_rules_port_mapping]
            for a in addresses] == [[("nat", 50000)], [("nat", 50001)]]
    assert addresses[1].network_interface_ip_configuration.id.endswith("/virtualMachines/1/networkInterfaces/nic"
                                                                        "/ipConfigurations/ip")


def test_a_dns_label_is_available_until_a_public_ip_in_the_location_takes_it(group):
    network = group.network_client()
    assert network.check_dns_name_availability("eastus", domain_name_label="mylabel").available is True
    network.public_ip_addresses.begin_create_or_update("rg", "ip", {
        **public_ip(), "properties": {"publicIPAllocationMethod": "Static",
                                      "dnsSettings": {"domainNameLabel": "mylabel"}}}).result()
    assert network.check_dns_name_availability("eastus", domain_name_label="mylabel").available is False
    assert network.check_dns_name_availability("westus", domain_name_label="mylabel").available is True


def test_network_usages_count_what_the_location_holds(group):
    network = group.network_client()
    network.virtual_networks.begin_create_or_update("rg", "vnet", vnet()).result()
    network.public_ip_addresses.begin_create_or_update("rg", "ip", public_ip()).result()
    counts = {u.name.value: (u.current_value, u.limit) for u in network.usages.list("eastus")}
    assert counts["VirtualNetworks"] == (1, 1000)
    assert counts["StandardSkuPublicIpAddresses"][0] == counts["StaticPublicIPAddresses"][0] == 1
    assert counts["NetworkInterfaces"] == (0, 65536)
    assert {u.name.value: u.current_value for u in network.usages.list("westus")}["VirtualNetworks"] == 0


def test_a_load_balancer_lists_the_nics_in_its_pools(door):
    network_for_vm(door)
    network = door.network_client()
    subnet = network.virtual_networks.get("rg", "vnet").subnets[0]
    lb_id = door.rg_path("rg", f"{NET}/loadBalancers/lb")
    network.load_balancers.begin_create_or_update("rg", "lb", {"location": "eastus", "properties": {
        "frontendIPConfigurations": [{"name": "fe", "properties": {"subnet": {"id": subnet.id}}}],
        "backendAddressPools": [{"name": "pool"}]}}).result()
    assert list(network.load_balancer_network_interfaces.list("rg", "lb")) == []
    nic = network.network_interfaces.get("rg", "nic1")
    nic.ip_configurations[0].load_balancer_backend_address_pools = [{"id": f"{lb_id}/backendAddressPools/pool"}]
    network.network_interfaces.begin_create_or_update("rg", "nic1", nic).result()
    assert [n.name for n in network.load_balancer_network_interfaces.list("rg", "lb")] == ["nic1"]


def test_an_ip_group_is_deleted_at_once(group):
    network = group.network_client()
    network.ip_groups.begin_create_or_update("rg", "ips", {"location": "eastus", "properties": {
        "ipAddresses": ["10.0.0.0/24"]}}).result()
    response = group.request("DELETE", group.rg_path("rg", f"{NET}/ipGroups/ips"))
    assert (response.status_code, response.content, "Location" in response.headers) == (200, b"", False)
    assert group.request("DELETE", group.rg_path("rg", f"{NET}/ipGroups/ips")).status_code == 204
    network.ip_groups.begin_create_or_update("rg", "ips", {"location": "eastus"}).result()
    network.ip_groups.begin_delete("rg", "ips").result()
    assert list(network.ip_groups.list_by_resource_group("rg")) == []


def test_a_dynamic_public_ip_is_refused_as_a_standard_one_must_be_static(group):
    """The fidelity harness replays a recorded Dynamic (and Basic) public IP as Static Standard;
    the emulator itself refuses both, as Azure does since the Basic SKU retired (test_rules)."""
    response = group.request("PUT", group.rg_path("rg", f"{NET}/publicIPAddresses/ip"), {
        "location": "eastus", "properties": {"publicIPAllocationMethod": "Dynamic"}})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "StandardSkuPublicIPAddressesMustBeStatic"


@pytest.mark.parametrize("path, body, target", [
    ("virtualNetworkGateways/gw", {"location": "eastus", "properties": {"ipConfigurations": "cfg"}},
     "properties.ipConfigurations"),
    ("loadBalancers/lb", {"location": "eastus", "properties": {"loadBalancingRules": [
        {"name": "r", "properties": {"backendAddressPools": "pool"}}]}},
     "properties.loadBalancingRules[0].properties.backendAddressPools"),
    ("virtualNetworks/vnet", {**vnet(), "properties": {**vnet()["properties"], "ddosProtectionPlan": "plan"}},
     "properties.ddosProtectionPlan"),
])
def test_a_reference_of_the_wrong_type_is_refused_before_anything_is_linked(group, path, body, target):
    response = group.request("PUT", group.rg_path("rg", f"{NET}/{path}"), body)
    assert response.status_code == 400
    assert (response.json()["error"]["code"], response.json()["error"]["target"]) == ("InvalidRequestContent", target)


def test_a_pool_port_sent_as_a_string_by_a_template_still_maps_to_a_number(group):
    network = group.network_client()
    lb_id = group.rg_path("rg", f"{NET}/loadBalancers/lb")
    subnet = network.virtual_networks.begin_create_or_update("rg", "vnet", vnet()).result().subnets[0]
    response = group.request("PUT", group.rg_path("rg", f"{NET}/loadBalancers/lb"), {"location": "eastus", "properties": {
        "frontendIPConfigurations": [{"name": "fe", "properties": {"subnet": {"id": subnet.id}}}],
        "backendAddressPools": [{"name": "pool"}],
        "inboundNatPools": [{"name": "ssh", "properties": {
            "frontendIPConfiguration": {"id": f"{lb_id}/frontendIPConfigurations/fe"}, "protocol": "Tcp",
            "frontendPortRangeStart": "50000", "frontendPortRangeEnd": "50099", "backendPort": 22}}]}})
    assert response.status_code == 201
    _scale_set_behind(group, lb_id, subnet.id, capacity=1)
    assert [r.frontend_port for r in network.load_balancers.get("rg", "lb").inbound_nat_rules] == [50000]


@pytest.fixture
def held():
    """The in-process door with operations that end only when polled (finish_on_poll): a delete
    the test has not polled yet is still running, as on Azure while a client sends other requests."""
    from dsvmctl.testing import mock_azure

    from .conftest import SDK_KWARGS, Door

    with mock_azure(finish_on_poll=True) as azure:
        yield Door("in-process", azure.emulator, azure.credential, "https://management.azure.com", True,
                   dict(SDK_KWARGS))


def _poll(door, response) -> dict:
    return door.request("GET", response.headers["Azure-AsyncOperation"][len(door.base_url):], api_version=None).json()


def test_what_a_vm_being_deleted_uses_cannot_be_deleted_until_its_delete_ends(held):
    """The order of test_delete_dependent_resources (az): each delete refused while a user remains."""
    nic_id = network_for_vm(held)
    held.compute_client().virtual_machines.begin_create_or_update("rg", "vm1", linux_vm(nic_id)).result()
    network = {"networkInterfaces": "nic1", "networkSecurityGroups": "nsg", "publicIPAddresses": "nic1-ip",
               "virtualNetworks": "vnet"}

    def delete(kind: str):
        return held.request("DELETE", held.rg_path("rg", f"{NET}/{kind}/{network[kind]}"))

    vm_delete = held.request("DELETE", held.rg_path("rg", "/providers/Microsoft.Compute/virtualMachines/vm1"))
    assert vm_delete.status_code == 202
    refused = {kind: (delete(kind).status_code, delete(kind).json()["error"]["code"]) for kind in network}
    assert refused == {"networkInterfaces": (400, "NicInUse"),
                       "networkSecurityGroups": (400, "InUseNetworkSecurityGroupCannotBeDeleted"),
                       "publicIPAddresses": (400, "PublicIPAddressCannotBeDeleted"),
                       "virtualNetworks": (400, "InUseSubnetCannotBeDeleted")}
    assert _poll(held, vm_delete)["status"] == "Succeeded"

    nic_delete = delete("networkInterfaces")
    assert nic_delete.status_code == 202
    being_deleted = held.request("GET", held.rg_path("rg", f"{NET}/networkInterfaces/nic1"))
    assert being_deleted.json()["properties"]["provisioningState"] == "Deleting"
    assert delete("networkSecurityGroups").status_code == 400  # the NIC still holds it while it goes
    assert _poll(held, nic_delete)["status"] == "Succeeded"
    assert held.request("GET", held.rg_path("rg", f"{NET}/networkInterfaces/nic1")).status_code == 404
    for kind in ("networkSecurityGroups", "publicIPAddresses", "virtualNetworks"):
        response = delete(kind)
        assert response.status_code == 202, response.text
        assert _poll(held, response)["status"] == "Succeeded"
        assert held.request("GET", held.rg_path("rg", f"{NET}/{kind}/{network[kind]}")).status_code == 404
