"""Preflight: every reason a spec would fail to deploy (or to resize later), found before any write."""

from __future__ import annotations

import dataclasses

import pytest

from dsvmctl.catalog import sizes as size_catalog
from dsvmctl.cloud.preflight import (
    PreflightError,
    Problem,
    QuotaInfo,
    SkuInfo,
    catalog_skus,
    preflight,
    quotas_by_family,
    raise_for,
)
from dsvmctl.errors import UsageError
from dsvmctl.spec import EnvironmentSpec


def spec(**fields) -> EnvironmentSpec:
    return EnvironmentSpec.from_dict({"name": "team-dsvm", **fields})


def codes(problems: list[Problem]) -> list[tuple[str, str | None]]:
    return [(p.code, p.field) for p in problems]


def offered(*, drop: tuple[str, ...] = (), **changes: dict) -> dict[str, SkuInfo]:
    skus = {name: sku for name, sku in catalog_skus().items() if name not in drop}
    for name, fields in changes.items():
        skus[name] = dataclasses.replace(skus[name], **fields)
    return skus


def resource_sku(name: str, caps: dict[str, str], restrictions: list | None = None) -> dict:
    return {"resourceType": "virtualMachines", "name": name, "family": "standardNCASv3_T4Family",
            "locations": ["eastus"], "restrictions": restrictions or [],
            "capabilities": [{"name": k, "value": v} for k, v in caps.items()]}


# --- SkuInfo / QuotaInfo --------------------------------------------------------------------------


def test_sku_info_from_resource_sku_parses_the_capability_strings():
    sku = SkuInfo.from_resource_sku(resource_sku("Standard_NC4as_T4_v3", {
        "vCPUs": "4", "MaxResourceVolumeMB": "180224", "HyperVGenerations": "V1,V2", "GPUs": "1",
        "AcceleratedNetworkingEnabled": "True", "PremiumIO": "True"}))
    assert (sku.vcpus, sku.temp_disk_gb, sku.generations, sku.gpus) == (4, 176, ("V1", "V2"), 1)
    assert sku.accelerated_networking and sku.premium_io and sku.restricted_reason is None
    assert sku.family == "standardNCASv3_T4Family"


def test_sku_info_from_resource_sku_reads_zero_resource_volume_as_no_temp_disk():
    sku = SkuInfo.from_resource_sku(resource_sku("Standard_D4s_v5", {"vCPUs": "4", "MaxResourceVolumeMB": "0"}))
    assert not sku.has_temp_disk and not sku.accelerated_networking


def test_location_restriction_marks_the_sku_restricted_with_its_reason_code():
    item = resource_sku("Standard_NC4as_T4_v3", {"vCPUs": "4"}, [
        {"type": "Location", "values": ["eastus"], "reasonCode": "NotAvailableForSubscription"}])
    assert SkuInfo.from_resource_sku(item, "eastus").restricted_reason == "NotAvailableForSubscription"


def test_location_restriction_for_another_region_does_not_restrict_this_one():
    item = resource_sku("Standard_NC4as_T4_v3", {"vCPUs": "4"}, [
        {"type": "Location", "values": ["westus"], "reasonCode": "NotAvailableForSubscription"}])
    assert SkuInfo.from_resource_sku(item, "eastus").restricted_reason is None


def test_zone_restriction_does_not_restrict_a_regional_vm():
    item = resource_sku("Standard_NC4as_T4_v3", {"vCPUs": "4"}, [
        {"type": "Zone", "values": ["eastus"], "reasonCode": "NotAvailableForSubscription"}])
    assert SkuInfo.from_resource_sku(item, "eastus").restricted_reason is None


def test_sku_info_from_the_catalog_matches_what_the_catalog_reports_to_resource_skus():
    size = size_catalog.SIZES["Standard_NC24ads_A100_v4"]
    from_api = SkuInfo.from_resource_sku({"name": size.name, "family": size.family, "capabilities": size.capabilities()})
    assert from_api == SkuInfo.from_catalog(size)


def test_quota_info_from_usages_items_keyed_by_family():
    quotas = quotas_by_family([{"name": {"value": "standardNCASv3_T4Family", "localizedValue": "x"},
                                "currentValue": 4, "limit": 16, "unit": "Count"}])
    assert quotas["standardNCASv3_T4Family"].free == 12


# --- what passes --------------------------------------------------------------------------------------


def test_default_spec_passes_offline():
    assert preflight(spec()) == []


def test_default_spec_passes_with_enough_quota():
    quota = {"standardDDSv5Family": QuotaInfo("standardDDSv5Family", 10, 0),
             "standardNCASv3_T4Family": QuotaInfo("standardNCASv3_T4Family", 8, 0),
             "cores": QuotaInfo("cores", 100, 0)}
    assert preflight(spec(), offered_sizes=catalog_skus(), quota=quota) == []


def test_spec_without_a_gpu_size_checks_only_the_cpu_size():
    assert preflight(spec(size="Standard_D4s_v5", gpu_size="")) == []


# --- sizes in the region -------------------------------------------------------------------------------


def test_size_not_offered_in_the_region_is_refused_with_nearby_sizes_and_another_region():
    [problem] = preflight(spec(), offered_sizes=offered(drop=("Standard_D4ds_v5",)))
    assert (problem.code, problem.field) == ("size-not-offered", "size")
    assert "Standard_D4ads_v5" in problem.fix and "another region" in problem.fix


def test_alternatives_for_a_missing_cpu_size_keep_its_temp_disk():
    [problem] = preflight(spec(), offered_sizes=offered(drop=("Standard_D4ds_v5",)))
    assert "Standard_D4s_v5" not in problem.fix and "Standard_D4as_v5" not in problem.fix


def test_restricted_gpu_size_is_refused_with_the_reason_and_other_gpu_sizes():
    skus = offered(Standard_NC4as_T4_v3={"restricted_reason": "NotAvailableForSubscription"})
    [problem] = preflight(spec(), offered_sizes=skus)
    assert (problem.code, problem.field) == ("size-restricted", "gpu_size")
    assert "not available to your subscription in eastus" in problem.message
    assert "Standard_NC8as_T4_v3" in problem.fix and "Standard_D" not in problem.fix


def test_unknown_size_is_refused_with_a_spelling_suggestion():
    [problem] = preflight(spec(size="Standard_D4dds_v5"))
    assert problem.code == "unknown-size" and "Standard_D4ds_v5" in problem.fix


def test_retired_gpu_size_is_refused_with_current_gpu_sizes():
    [problem] = preflight(spec(gpu_size="Standard_NC6s_v3"))
    assert (problem.code, problem.field) == ("retired-size", "gpu_size")
    assert "2025-09-30" in problem.message and "Standard_NC4as_T4_v3" in problem.fix


def test_retired_size_is_refused_even_if_a_stale_listing_offers_it():
    skus = catalog_skus() | {"Standard_NC6": SkuInfo.from_catalog(size_catalog.SIZES["Standard_NC6"])}
    assert ("retired-size", "gpu_size") in codes(preflight(spec(gpu_size="Standard_NC6"), offered_sizes=skus))


# --- Hyper-V generation ------------------------------------------------------------------------------------


def test_gen1_image_with_a_gen2_only_gpu_size_is_refused_naming_a_gen2_image():
    [problem] = preflight(spec(image="ubuntu-2004-gen1", gpu_size="Standard_NC24ads_A100_v4"))
    assert problem.message == "Standard_NC24ads_A100_v4 boots only Hyper-V Gen2 but ubuntu-2004-gen1 is Gen1"
    assert (problem.code, problem.field, problem.fix) == ("hyperv-generation", "gpu_size", "use image ubuntu-2204")


def test_gen2_image_with_a_gen1_only_size_is_refused_on_the_cpu_size():
    skus = offered(Standard_D4ds_v5={"generations": ("V1",)})
    [problem] = preflight(spec(), offered_sizes=skus)
    assert (problem.code, problem.field) == ("hyperv-generation", "size")
    assert problem.fix == "use image ubuntu-2004-gen1"


def test_gen1_image_with_a_t4_gpu_size_is_fine():
    assert preflight(spec(image="ubuntu-2004-gen1")) == []


# --- temp disk pairing ---------------------------------------------------------------------------------


def test_cpu_size_without_temp_disk_is_refused_with_its_temp_disk_partner():
    [problem] = preflight(spec(size="Standard_D4s_v5"))
    assert problem.message == ("Standard_D4s_v5 has no temp disk, so it can never be resized to "
                               "Standard_NC4as_T4_v3")
    assert (problem.code, problem.field, problem.fix) == ("temp-disk-pairing", "size", "use Standard_D4ds_v5")


@pytest.mark.parametrize("size, partner", [("Standard_D4as_v5", "Standard_D4ads_v5"),
                                           ("Standard_E4s_v5", "Standard_E4ds_v5"),
                                           ("Standard_D8s_v5", "Standard_D8ds_v5")])
def test_temp_disk_partner_has_the_same_vcpus_and_memory(size, partner):
    [problem] = preflight(spec(size=size))
    assert problem.fix == f"use {partner}"


def test_gpu_size_without_temp_disk_is_refused_on_the_gpu_size():
    skus = offered(Standard_NC4as_T4_v3={"temp_disk_gb": 0})
    [problem] = preflight(spec(), offered_sizes=skus)
    assert (problem.code, problem.field) == ("temp-disk-pairing", "gpu_size")


# --- quota -------------------------------------------------------------------------------------------------


def test_cpu_quota_shortfall_is_an_error_with_numbers_and_the_request_link():
    quota = {"standardDDSv5Family": QuotaInfo("standardDDSv5Family", 10, 8)}
    [problem] = preflight(spec(), quota=quota)
    assert (problem.code, problem.field, problem.severity) == ("quota", "size", "error")
    assert "needs 4 vCPUs" in problem.message and "only 2 are free (limit 10, in use 8)" in problem.message
    assert problem.fix == ("request a quota increase for standardDDSv5Family in eastus to at least 12 vCPUs: "
                           "https://aka.ms/ProdportalCRP")


def test_gpu_quota_shortfall_is_a_warning_because_it_only_bites_at_the_gpu_run():
    quota = {"standardNCASv3_T4Family": QuotaInfo("standardNCASv3_T4Family", 0, 0)}
    [problem] = preflight(spec(), quota=quota)
    assert (problem.field, problem.severity) == ("gpu_size", "warning")


def test_regional_vcpu_quota_is_checked_too():
    [problem] = preflight(spec(gpu_size=""), quota={"cores": QuotaInfo("cores", 10, 8)})
    assert "Total Regional vCPUs" in problem.message


def test_spot_vm_counts_against_low_priority_quota_not_its_family():
    quota = {"standardDDSv5Family": QuotaInfo("standardDDSv5Family", 0, 0),
             "lowPriorityCores": QuotaInfo("lowPriorityCores", 2, 0)}
    [problem] = preflight(spec(spot=True, gpu_size=""), quota=quota)
    assert "Low-priority" in problem.message


def test_quota_family_names_match_case_insensitively():
    quota = {"STANDARDDDSV5FAMILY": QuotaInfo("STANDARDDDSV5FAMILY", 0, 0)}
    assert ("quota", "size") in codes(preflight(spec(gpu_size=""), quota=quota))


# --- other rules and the error -------------------------------------------------------------------------


def test_premium_disk_on_a_size_without_premium_storage_is_refused():
    skus = offered(Standard_D4ds_v5={"premium_io": False})
    assert codes(preflight(spec(gpu_size=""), offered_sizes=skus)) == [("premium-storage", "os_disk_type")]


def test_windows_name_over_15_characters_is_caught_even_if_the_spec_was_built_unchecked():
    base = EnvironmentSpec.from_dict({"name": "win", "os": "windows"})
    long_name = base.model_copy(update={"name": "team-dsvm-windows"})
    assert ("windows-computer-name", "name") in codes(preflight(long_name))


def test_every_problem_is_reported_at_once():
    skus = offered(drop=("Standard_NC4as_T4_v3",))
    problems = preflight(spec(size="Standard_D4s_v5", image="ubuntu-2004-gen1", gpu_size="Standard_NC24ads_A100_v4"),
                         offered_sizes=skus, quota={"standardDSv5Family": QuotaInfo("standardDSv5Family", 0, 0)})
    assert codes(problems) == [("hyperv-generation", "gpu_size"), ("temp-disk-pairing", "size"), ("quota", "size")]


def test_raise_for_lists_every_error_in_one_usage_error():
    problems = preflight(spec(size="Standard_D4s_v5", gpu_size="Standard_NC6s_v3"))
    with pytest.raises(PreflightError) as caught:
        raise_for(problems + [Problem("x", "warn", "fix", None, "warning")])
    assert isinstance(caught.value, UsageError) and caught.value.exit_code == 2
    assert len(caught.value.problems) == 1 and "nothing was created" in str(caught.value)
    assert "retired" in str(caught.value)


def test_raise_for_is_silent_with_warnings_only():
    raise_for([Problem("quota", "short", "ask", "gpu_size", "warning")])
