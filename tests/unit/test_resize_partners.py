"""The resize-partner rule: which sizes a VM can move between keeping its OS disk (one rule,
used by the catalog, the resize planner and `dsvmctl sizes`)."""

from __future__ import annotations

from dsvmctl.catalog.sizes import CURATED, can_resize_between, gpu_partners, lookup, resize_partners
from dsvmctl.cloud.preflight import SkuInfo

T4 = CURATED["Standard_NC4as_T4_v3"]
A100 = CURATED["Standard_NC24ads_A100_v4"]  # Gen2 only
WITH_TEMP = CURATED["Standard_D4ds_v5"]
NO_TEMP = CURATED["Standard_D4s_v5"]
GEN1_ONLY = CURATED["Standard_A1_v2"]


def test_sizes_with_and_without_a_temp_disk_are_never_partners_either_way():
    assert not can_resize_between(NO_TEMP, T4)
    assert not can_resize_between(T4, NO_TEMP)
    assert can_resize_between(WITH_TEMP, T4) and can_resize_between(T4, WITH_TEMP)


def test_a_target_that_cannot_boot_any_generation_of_the_current_size_is_no_partner():
    assert not can_resize_between(GEN1_ONLY, A100)
    assert can_resize_between(GEN1_ONLY, T4)  # T4 boots Gen1 and Gen2


def test_the_os_disk_generation_when_known_decides_instead_of_the_size_s():
    assert can_resize_between(WITH_TEMP, A100, generation="V2")
    assert not can_resize_between(WITH_TEMP, A100, generation="V1")


def test_partners_leave_out_the_size_itself_and_retired_sizes():
    names = [s.name for s in resize_partners(WITH_TEMP)]
    assert WITH_TEMP.name not in names and "Standard_NC6s_v3" not in names  # retired V100
    assert T4.name in names and NO_TEMP.name not in names


def test_gpu_partners_of_a_cpu_size_are_the_gpu_sizes_only_and_a_gpu_size_has_none():
    partners = gpu_partners(WITH_TEMP)
    assert partners == sorted(partners) and T4.name in partners and A100.name in partners
    assert all(lookup(name).gpus for name in partners)
    assert gpu_partners(NO_TEMP) == [] and gpu_partners(T4) == []
    assert A100.name not in gpu_partners(GEN1_ONLY)


def test_the_rule_reads_live_resource_skus_entries_as_well_as_catalog_sizes():
    live_cpu = SkuInfo.from_catalog(WITH_TEMP)
    offered = [SkuInfo.from_catalog(T4), SkuInfo.from_catalog(NO_TEMP),
               SkuInfo("Standard_NC8as_T4_v3", 8, "standardNCASv3_T4Family", 352, ("V1", "V2"), gpus=1)]
    assert gpu_partners(live_cpu, offered) == ["Standard_NC4as_T4_v3", "Standard_NC8as_T4_v3"]
