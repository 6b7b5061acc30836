"""Dedicated host groups and hosts through azure-mgmt-compute, as the Compute RP answers them."""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError


def test_a_host_group_holds_hosts_written_as_long_running_operations(door):
    door.resource_client().resource_groups.create_or_update("rg", {"location": "westus"})
    compute = door.compute_client()
    group = compute.dedicated_host_groups.create_or_update("rg", "hosts", {
        "location": "westus", "properties": {"platformFaultDomainCount": 2}})
    assert group.platform_fault_domain_count == 2 and group.support_automatic_placement is False
    poller = compute.dedicated_hosts.begin_create_or_update("rg", "hosts", "host1", {
        "location": "westus", "sku": {"name": "DSv3-Type1"}, "properties": {"platformFaultDomain": 1}})
    host = poller.result()
    assert host.provisioning_state == "Succeeded" and host.auto_replace_on_failure is True
    assert host.host_id and host.provisioning_time and host.virtual_machines == []
    assert [h.name for h in compute.dedicated_hosts.list_by_host_group("rg", "hosts")] == ["host1"]
    assert [h.id for h in compute.dedicated_host_groups.get("rg", "hosts").hosts] == [host.id]
    assert [g.name for g in compute.dedicated_host_groups.list_by_subscription()] == ["hosts"]

    with pytest.raises(HttpResponseError) as in_use:
        compute.dedicated_host_groups.delete("rg", "hosts")
    assert in_use.value.status_code == 409 and in_use.value.error.code == "CannotDeleteResource"
    compute.dedicated_hosts.begin_delete("rg", "hosts", "host1").result()
    with pytest.raises(ResourceNotFoundError):
        compute.dedicated_hosts.get("rg", "hosts", "host1")
    compute.dedicated_host_groups.delete("rg", "hosts")
    assert list(compute.dedicated_host_groups.list_by_resource_group("rg")) == []


def test_a_host_outside_its_groups_fault_domains_or_without_a_sku_is_refused(door):
    door.resource_client().resource_groups.create_or_update("rg", {"location": "westus"})
    compute = door.compute_client()
    compute.dedicated_host_groups.create_or_update("rg", "hosts", {
        "location": "westus", "properties": {"platformFaultDomainCount": 1}})
    with pytest.raises(HttpResponseError) as outside:
        compute.dedicated_hosts.begin_create_or_update("rg", "hosts", "host1", {
            "location": "westus", "sku": {"name": "DSv3-Type1"}, "properties": {"platformFaultDomain": 1}}).result()
    assert outside.value.error.code == "InvalidParameter"
    with pytest.raises(HttpResponseError) as no_sku:
        compute.dedicated_hosts.begin_create_or_update("rg", "hosts", "host1", {"location": "westus"}).result()
    assert no_sku.value.error.code == "InvalidParameter" and "sku.name" in no_sku.value.error.message
    with pytest.raises(ResourceNotFoundError):
        compute.dedicated_hosts.begin_create_or_update("rg", "nogroup", "host1", {
            "location": "westus", "sku": {"name": "DSv3-Type1"}}).result()
