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
