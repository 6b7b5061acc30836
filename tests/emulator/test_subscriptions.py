"""Any subscription, moto-style: each appears on first use with its own resources, quota and registrations."""

from __future__ import annotations

import dataclasses

import pytest
from azure.core.exceptions import HttpResponseError

from dsvmctl.emulator.core import Emulator

from .test_sdk_flow import run_acceptance_flow

OWN = "11111111-2222-3333-4444-555555555555"
OTHER = "99999999-8888-7777-6666-555555555555"


def test_a_subscription_of_its_own_passes_the_acceptance_flow_through_each_door(door):
    own = dataclasses.replace(door, subscription=OWN)
    seen = run_acceptance_flow(own)
    assert seen["after"].id.startswith(f"/subscriptions/{OWN}/")
    assert seen["after"].storage_profile.os_disk.managed_disk.id == seen["os_disk_before"]
    assert seen["group_exists"] is False and seen["left"] == []
    listed = door.request("GET", "/subscriptions", api_version="2022-12-01").json()["value"]
    assert {s["subscriptionId"] for s in listed} == {door.emulator.subscription_id, OWN}
    assert door.request("GET", f"/subscriptions/{OWN}", api_version="2022-12-01").json()["state"] == "Enabled"


def test_compute_client_with_any_subscription_id_is_served(door):
    from azure.mgmt.compute import ComputeManagementClient

    compute = ComputeManagementClient(door.credential, OWN, **door.client_kwargs)
    assert "Standard_D4ds_v5" in [s.name for s in compute.virtual_machine_sizes.list("eastus")]
    assert list(compute.virtual_machines.list_all()) == []


def test_subscriptions_do_not_see_each_others_resources(door):
    mine, theirs = dataclasses.replace(door, subscription=OWN), dataclasses.replace(door, subscription=OTHER)
    mine.resource_client().resource_groups.create_or_update("shared-name", {"location": "eastus"})
    assert theirs.resource_client().resource_groups.check_existence("shared-name") is False
    assert [g.name for g in theirs.resource_client().resource_groups.list()] == []
    assert [g.name for g in mine.resource_client().resource_groups.list()] == ["shared-name"]
    assert door.resource_client().resource_groups.check_existence("shared-name") is False
    theirs.resource_client().resource_groups.create_or_update("shared-name", {"location": "westeurope"})
    assert mine.resource_client().resource_groups.get("shared-name").location == "eastus"


def test_quota_and_registrations_are_per_subscription():
    em = Emulator(require_registration=True)
    em.set_quota("eastus", "standardNCASv3_T4Family", 0, subscription_id=OWN)
    assert em.quota_limit("eastus", "standardNCASv3_T4Family") == 24  # the default subscription's
    with em.acting_for(OWN):
        assert em.quota_limit("eastus", "standardNCASv3_T4Family") == 0
        em.registered.add("microsoft.compute")
    assert "microsoft.compute" not in em.registered
    assert "microsoft.compute" in em.subscription(OWN).registered


def test_subscriptions_and_their_state_survive_a_restart(tmp_path):
    from dsvmctl.emulator.wire import Request

    em = Emulator(state_dir=tmp_path)
    em.handle(Request("PUT", f"https://x/subscriptions/{OWN}/resourcegroups/rg?api-version=2022-09-01",
                      body=b'{"location": "eastus"}'))
    em.set_quota("eastus", "cores", 8, subscription_id=OWN)
    again = Emulator(state_dir=tmp_path)
    assert OWN in {s.id for s in again.subscriptions.values()}
    with again.acting_for(OWN):
        assert again.resource_group("rg") is not None and again.quota_limit("eastus", "cores") == 8
    assert again.resource_group("rg") is None


def test_a_malformed_subscription_id_is_refused_with_arms_code(door):
    response = door.request("GET", "/subscriptions/not-a-guid/resourcegroups", api_version="2022-09-01")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "InvalidSubscriptionId"
    assert "not-a-guid" in response.json()["error"]["message"]


def test_a_quota_error_names_the_subscription_that_hit_it(door):
    own = dataclasses.replace(door, subscription=OWN)
    door.emulator.set_quota("eastus", "cores", 0, subscription_id=OWN)
    from .builders import linux_vm, network_for_vm

    nic_id = network_for_vm(own, "rg")
    with pytest.raises(HttpResponseError) as refused:
        own.compute_client().virtual_machines.begin_create_or_update("rg", "vm1", linux_vm(nic_id)).result()
    assert refused.value.error.code == "OperationNotAllowed" and OWN in refused.value.error.message
