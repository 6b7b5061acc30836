"""Injected faults behave like Azure's, and the SDK's own retry and polling cope with them."""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError

from dsvmctl.emulator.core import Emulator
from dsvmctl.emulator.faults import ConnectionResetFault
from dsvmctl.emulator.wire import Request

from .builders import linux_vm, network_for_vm


def test_throttling_sends_retry_after_and_the_sdk_waits_and_retries(door):
    door.faults.throttle("PUT", r"/resourcegroups/rg$", retry_after=1, times=1)
    door.resource_client().resource_groups.create_or_update("rg", {"location": "eastus"})
    statuses = [s for m, p, s in door.emulator.request_log if m == "PUT" and p.lower().endswith("/rg")]
    assert statuses == [429, 201]


def test_server_errors_are_retried_until_the_rule_is_spent(door):
    rule = door.faults.server_error("GET", "/locations/eastus/vmSizes", status=503, times=2)
    sizes = list(door.compute_client().virtual_machine_sizes.list("eastus"))
    assert sizes and rule.hits == 2
    assert [s for m, p, s in door.emulator.request_log if p.endswith("/vmSizes")] == [503, 503, 200]


def test_connection_reset_is_retried_by_the_sdk(door):
    rule = door.faults.connection_reset("GET", "/locations/westeurope/vmSizes", times=1)
    assert list(door.compute_client().virtual_machine_sizes.list("westeurope"))
    assert rule.hits == 1


def test_allocation_failure_fails_the_start_operation_and_leaves_the_vm_deallocated(door):
    nic_id = network_for_vm(door)
    compute = door.compute_client()
    compute.virtual_machines.begin_create_or_update("rg", "vm1", linux_vm(nic_id)).result()
    compute.virtual_machines.begin_deallocate("rg", "vm1").result()
    door.faults.allocation_failure("POST", "/virtualMachines/vm1/start$")
    with pytest.raises(HttpResponseError) as err:
        compute.virtual_machines.begin_start("rg", "vm1").result()
    assert err.value.error.code == "AllocationFailed"
    assert "sufficient capacity" in err.value.error.message
    statuses = [s.code for s in compute.virtual_machines.instance_view("rg", "vm1").statuses]
    assert "PowerState/deallocated" in statuses
    compute.virtual_machines.begin_start("rg", "vm1").result()  # the rule was used up: capacity is back
    assert "PowerState/running" in [s.code for s in compute.virtual_machines.instance_view("rg", "vm1").statuses]


def _request(method: str, path: str) -> Request:
    return Request(method, f"https://management.azure.com{path}?api-version=2025-04-01")


def test_probability_rules_fire_about_as_often_as_asked():
    em = Emulator(fault_seed=7)
    em.faults.server_error("GET", "/subscriptions$", probability=0.3, times=None)
    statuses = [em.handle(_request("GET", "/subscriptions")).status for _ in range(400)]
    share = statuses.count(500) / len(statuses)
    assert 0.22 < share < 0.38


def test_rules_match_method_and_path_and_stop_after_their_count():
    em = Emulator()
    em.faults.connection_reset("DELETE", "/resourcegroups/", times=2)
    assert em.handle(_request("GET", "/subscriptions")).status == 200
    for _ in range(2):
        with pytest.raises(ConnectionResetFault):
            em.handle(_request("DELETE", f"/subscriptions/{em.subscription_id}/resourcegroups/x"))
    assert em.handle(_request("DELETE", f"/subscriptions/{em.subscription_id}/resourcegroups/x")).status == 404


def test_operations_take_the_configured_time():
    import time

    em = Emulator(operation_seconds=0.3)
    sub = em.subscription_id
    em.handle(Request("PUT", f"https://management.azure.com/subscriptions/{sub}/resourcegroups/rg?api-version=2025-04-01",
                      body=b'{"location": "eastus"}'))
    created = em.handle(Request(
        "PUT", f"https://management.azure.com/subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.Network/"
        "publicIPAddresses/ip?api-version=2024-05-01", body=b'{"location": "eastus", "sku": {"name": "Standard"}}'))
    status_url = created.headers["Azure-AsyncOperation"]
    assert created.headers["Retry-After"] == "1"
    assert em.handle(Request("GET", status_url)).body["status"] == "InProgress"
    time.sleep(0.35)
    assert em.handle(Request("GET", status_url)).body["status"] == "Succeeded"
