"""The resize planner: which steps move a VM to another size, or every reason it cannot."""

from __future__ import annotations

import dataclasses
import json

from dsvmctl.catalog import sizes as size_catalog
from dsvmctl.cloud.preflight import QuotaInfo, SkuInfo
from dsvmctl.cloud.resize_plan import VmFacts, plan_resize

CPU, GPU = "Standard_D4ds_v5", "Standard_NC4as_T4_v3"
T4_FAMILY = "standardNCASv3_T4Family"


def sku(size_name: str, **changes) -> SkuInfo:
    return dataclasses.replace(SkuInfo.from_catalog(size_catalog.SIZES[size_name]), **changes)


def vm(size: str = CPU, power_state: str = "running", **facts) -> VmFacts:
    defaults = dict(name="alice", size=sku(size), power_state=power_state, hyperv_generation="V2",
                    accelerated_networking=True, public_ip_allocation="Static",
                    os_disk_id="/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/disks/alice-os",
                    location="eastus")
    return VmFacts(**{**defaults, **facts})


def plan(machine: VmFacts | None = None, target: str | None = GPU, *, available: tuple[str, ...] = (CPU,),
         quota: QuotaInfo | None = None, restart_after: bool | None = None, target_sku: SkuInfo | None = None):
    target_info = target_sku or (sku(target) if target in size_catalog.SIZES else None)
    return plan_resize(machine or vm(), target_info, target or "", available_sizes=list(available),
                       quota=quota, restart_after=restart_after)


def blocker_codes(result) -> list[str]:
    return [b.code for b in result.blockers]


# --- the four kinds ----------------------------------------------------------------------------------


def test_same_size_is_nothing_to_do():
    result = plan(target=CPU)
    assert (result.kind, result.steps, result.will_restart) == ("noop", [], False)


def test_same_size_in_other_case_is_nothing_to_do():
    result = plan(target_sku=sku(CPU, name=CPU.lower()), target=CPU.lower())
    assert result.kind == "noop"


def test_running_vm_to_a_size_in_its_cluster_is_one_patch_that_restarts_it():
    result = plan(target="Standard_D8ds_v5", available=(CPU, "Standard_D8ds_v5"))
    assert (result.kind, result.steps) == ("in_place", ["resize"])
    assert result.will_restart and result.ends_running


def test_running_vm_to_a_size_outside_its_cluster_is_deallocated_resized_and_started():
    result = plan()
    assert (result.kind, result.steps) == ("deallocate_resize_start", ["deallocate", "resize", "start"])
    assert result.will_restart and result.ends_running and result.end_state == "running"


def test_cluster_membership_is_matched_case_insensitively():
    assert plan(available=(GPU.lower(),)).kind == "in_place"


def test_deallocated_vm_is_resized_without_a_deallocate_step_and_stays_off():
    result = plan(vm(power_state="deallocated"))
    assert (result.kind, result.steps, result.will_restart, result.ends_running) == ("in_place", ["resize"], False, False)


def test_deallocated_vm_is_started_after_the_resize_when_asked():
    result = plan(vm(power_state="deallocated"), restart_after=True)
    assert (result.steps, result.ends_running) == (["resize", "start"], True)


def test_running_vm_that_should_end_off_is_deallocated_before_the_resize():
    result = plan(target="Standard_D8ds_v5", available=("Standard_D8ds_v5",), restart_after=False)
    assert (result.kind, result.steps, result.end_state) == ("deallocate_resize_start", ["deallocate", "resize"],
                                                             "deallocated")


def test_stopped_vm_in_its_cluster_is_resized_in_place_and_stays_stopped():
    result = plan(vm(power_state="stopped"), target="Standard_D8ds_v5", available=("Standard_D8ds_v5",))
    assert (result.kind, result.steps, result.end_state, result.will_restart) == ("in_place", ["resize"], "stopped", False)


def test_stopped_vm_outside_its_cluster_is_deallocated_first_because_it_still_holds_hardware():
    result = plan(vm(power_state="stopped"), restart_after=True)
    assert result.steps == ["deallocate", "resize", "start"]


# --- blockers ----------------------------------------------------------------------------------------------


def test_resize_to_size_without_temp_disk_is_refused_with_the_partner_suggested():
    result = plan(vm(size=GPU), target="Standard_D4s_v5")
    assert (result.kind, result.steps) == ("impossible", [])
    [blocker] = result.blockers
    assert blocker.code == "temp-disk-pairing" and blocker.fix == "resize to Standard_D4ds_v5 instead"


def test_vm_without_temp_disk_can_never_reach_an_nc_size():
    [blocker] = plan(vm(size="Standard_D4s_v5")).blockers
    assert blocker.message == "Standard_D4s_v5 has no temp disk, so it can never be resized to Standard_NC4as_T4_v3"
    assert "Standard_D4ds_v5" in blocker.fix


def test_temp_disk_fix_says_the_current_size_is_the_target_with_a_temp_disk():
    [blocker] = plan(target="Standard_D4s_v5").blockers
    assert blocker.fix.startswith(f"stay on {CPU} (it is Standard_D4s_v5 with a temp disk)")
    assert "or resize to Standard_D4ads_v5" in blocker.fix


def test_gen1_vm_cannot_move_to_a_gen2_only_size():
    [blocker] = plan(vm(hyperv_generation="V1"), target="Standard_NC24ads_A100_v4").blockers
    assert blocker.code == "hyperv-generation" and "boots only Hyper-V Gen2" in blocker.message
    assert "recreate the VM from a Gen2 image (ubuntu-2204)" in blocker.fix


def test_windows_vm_generation_fix_names_a_windows_image():
    [blocker] = plan(vm(hyperv_generation="V1", os="windows"), target="Standard_NC24ads_A100_v4").blockers
    assert "win-2022" in blocker.fix


def test_accelerated_networking_the_target_does_not_allow_blocks_the_resize():
    result = plan(target_sku=sku(GPU, accelerated_networking=False))
    assert blocker_codes(result) == ["accelerated-networking"]


def test_accelerated_networking_off_on_the_nic_needs_nothing_from_the_target():
    assert plan(vm(accelerated_networking=False), target_sku=sku(GPU, accelerated_networking=False)).possible


def test_restricted_target_is_refused_with_the_reason_code():
    [blocker] = plan(target_sku=sku(GPU, restricted_reason="NotAvailableForSubscription")).blockers
    assert blocker.code == "size-restricted" and "NotAvailableForSubscription" in blocker.message


def test_retired_target_is_impossible():
    result = plan(vm(size=GPU), target="Standard_NC6s_v3")
    assert result.kind == "impossible" and "retired-size" in blocker_codes(result)


def test_unknown_target_is_impossible_and_lists_the_valid_partners():
    [blocker] = plan(target="Standard_NC5as_T4_v3").blockers
    assert blocker.code == "unknown-size" and "not a VM size offered in eastus" in blocker.message
    assert GPU in blocker.fix and "Standard_D4s_v5" not in blocker.fix


def test_target_missing_from_the_region_but_retired_says_it_was_retired():
    [blocker] = plan_resize(vm(size=GPU), None, "Standard_NC6s_v3", available_sizes=[], quota=None).blockers
    assert blocker.code == "retired-size"


def test_vm_in_transition_cannot_be_planned_yet():
    assert blocker_codes(plan(vm(power_state="deallocating"))) == ["vm-busy"]


def test_every_blocker_is_reported_at_once():
    result = plan(vm(hyperv_generation="V1", size="Standard_D4s_v5"), target="Standard_NC24ads_A100_v4",
                  quota=QuotaInfo("StandardNCADSA100v4Family", 0, 0))
    assert blocker_codes(result) == ["temp-disk-pairing", "hyperv-generation", "quota"]


# --- quota -------------------------------------------------------------------------------------------------


def test_quota_shortfall_blocks_with_the_numbers_and_the_request_link():
    [blocker] = plan(quota=QuotaInfo(T4_FAMILY, 4, 2)).blockers
    assert blocker.message == ("Standard_NC4as_T4_v3 needs 4 vCPUs of standardNCASv3_T4Family quota in eastus, "
                               "but only 2 are free (limit 4, in use 2); short by 2")
    assert blocker.fix.endswith("to at least 6 vCPUs: https://aka.ms/ProdportalCRP")


def test_quota_that_fits_lets_the_plan_through():
    assert plan(quota=QuotaInfo(T4_FAMILY, 8, 4)).possible


def test_vms_own_vcpus_count_as_free_when_it_moves_within_its_family():
    # D4ds_v5 -> D8ds_v5: limit 8, 4 in use by this very VM: 8 are available to it.
    result = plan(target="Standard_D8ds_v5", quota=QuotaInfo("standardDDSv5Family", 8, 4))
    assert result.possible


def test_deallocated_vms_vcpus_are_not_in_the_usage_so_nothing_is_subtracted():
    result = plan(vm(power_state="deallocated"), target="Standard_D8ds_v5", restart_after=True,
                  quota=QuotaInfo("standardDDSv5Family", 8, 4))
    assert blocker_codes(result) == ["quota"]


def test_quota_is_not_needed_when_the_vm_ends_deallocated():
    result = plan(vm(power_state="deallocated"), quota=QuotaInfo(T4_FAMILY, 0, 0))
    assert result.possible and result.steps == ["resize"]


def test_quota_is_needed_when_a_stopped_vm_is_resized_in_place_because_it_stays_allocated():
    result = plan(vm(power_state="stopped"), available=(GPU,), quota=QuotaInfo(T4_FAMILY, 0, 0))
    assert blocker_codes(result) == ["quota"]


# --- warnings and output ------------------------------------------------------------------------------------


def test_resizing_an_allocated_vm_warns_that_the_temp_disk_is_wiped():
    assert any("temp disk (/mnt) is wiped" in w for w in plan().warnings)


def test_windows_temp_disk_warning_names_drive_d():
    assert any("temp disk (D:)" in w for w in plan(vm(os="windows")).warnings)


def test_deallocating_with_a_dynamic_public_ip_warns_the_address_changes():
    assert any("dynamic" in w for w in plan(vm(public_ip_allocation="Dynamic")).warnings)


def test_static_public_ip_gives_no_address_warning():
    assert not any("public IP" in w for w in plan().warnings)


def test_in_place_resize_keeps_a_dynamic_address_so_no_address_warning():
    result = plan(vm(public_ip_allocation="Dynamic"), available=(GPU,))
    assert not any("public IP" in w for w in result.warnings)


def test_running_vm_warns_it_restarts():
    assert any("restarts" in w for w in plan().warnings)


def test_deallocated_vm_has_nothing_left_to_lose():
    assert plan(vm(power_state="deallocated", public_ip_allocation="Dynamic")).warnings == []


def test_to_dict_is_json_with_steps_blockers_and_warnings():
    document = json.loads(json.dumps(plan(quota=QuotaInfo(T4_FAMILY, 0, 0)).to_dict()))
    assert (document["kind"], document["from_size"], document["to_size"]) == ("impossible", CPU, GPU)
    assert document["blockers"][0]["code"] == "quota" and document["blockers"][0]["fix"]


def test_describe_numbers_the_steps():
    text = plan().describe()
    assert "1. deallocate" in text and "2. resize" in text and "3. start" in text and "warning:" in text


def test_describe_of_an_impossible_plan_shows_each_blocker_and_its_fix():
    text = plan(vm(size="Standard_D4s_v5")).describe()
    assert "cannot resize" in text and "fix: recreate the VM on Standard_D4ds_v5" in text


def test_the_planner_blocks_exactly_on_the_catalogs_resize_obstacles():
    """One rule (catalog/sizes.resize_obstacles): the planner's pairing blockers are its verdicts."""
    pairs = [(CPU, GPU), ("Standard_D4s_v5", GPU), (CPU, "Standard_NC24ads_A100_v4"), ("Standard_A1_v2", GPU)]
    seen = set()
    for current, target in pairs:
        for generation in ("V1", "V2"):
            machine = vm(current, hyperv_generation=generation, accelerated_networking=False)
            found = [c for c in blocker_codes(plan(machine, target, available=(current, target)))
                     if c in ("temp-disk-pairing", "hyperv-generation")]
            assert found == size_catalog.resize_obstacles(sku(current), sku(target), generation=generation)
            seen.update(found)
    assert seen == {"temp-disk-pairing", "hyperv-generation"}
