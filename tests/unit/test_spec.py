"""The environment spec: defaults, every validation rule, and errors a person can act on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dsvmctl.errors import UsageError
from dsvmctl.spec import EnvironmentSpec

REPO = Path(__file__).resolve().parents[2]


def spec(**fields) -> EnvironmentSpec:
    return EnvironmentSpec.from_dict({"name": "team-dsvm", **fields})


def refused(**fields) -> str:
    with pytest.raises(UsageError) as caught:
        spec(**fields)
    return str(caught.value)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "team.toml"
    path.write_text(text)
    return path


# --- defaults ----------------------------------------------------------------------------------


def test_defaults_are_a_resizable_ubuntu_cpu_vm_with_a_t4_partner():
    s = spec()
    assert (s.os, s.image, s.size, s.gpu_size) == ("ubuntu", "ubuntu-2204", "Standard_D4ds_v5", "Standard_NC4as_T4_v3")
    assert (s.location, s.admin_user, s.os_disk_size_gb, s.os_disk_type) == ("eastus", "azureuser", 150, "Premium_LRS")
    assert s.allowed_sources is None and s.ssh_key is None and not s.spot and s.max_price == -1


def test_resource_group_defaults_to_the_name_with_a_dsvmctl_prefix():
    assert spec().resource_group == "dsvmctl-team-dsvm"


def test_auto_shutdown_defaults_to_19_00_utc_enabled():
    shutdown = spec().auto_shutdown
    assert (shutdown.enabled, shutdown.time, shutdown.time_zone) == (True, "19:00", "UTC")


def test_os_windows_without_image_picks_the_windows_2022_dsvm_and_a_128_gib_disk():
    s = EnvironmentSpec.from_dict({"name": "win-dsvm", "os": "windows"})
    assert (s.image, s.os_disk_size_gb, s.template_file) == ("win-2022", 128, "dsvm-windows.json")


def test_os_is_derived_from_the_image():
    assert EnvironmentSpec.from_dict({"name": "w", "image": "win-2019"}).os == "windows"


def test_image_urn_resolves_to_the_catalog_image():
    s = spec(image="microsoft-dsvm:ubuntu-2004:2004:latest")
    assert s.image == "ubuntu-2004-gen1" and s.image_info.generation == "V1"


def test_size_names_are_matched_case_insensitively_and_shown_canonically():
    assert spec(size="standard_d8ds_V5").size == "Standard_D8ds_v5"


def test_location_display_name_becomes_the_programmatic_name():
    assert spec(location="West Europe").location == "westeurope"


def test_empty_gpu_size_means_no_gpu_partner():
    assert spec(gpu_size="").gpu_size is None


def test_plain_address_becomes_a_slash_32_source():
    assert spec(allowed_sources=["203.0.113.7"]).allowed_sources == ["203.0.113.7/32"]


def test_auto_shutdown_false_turns_the_schedule_off():
    assert spec(auto_shutdown=False).auto_shutdown.enabled is False


# --- loading files -------------------------------------------------------------------------------


def test_shipped_example_spec_loads():
    s = EnvironmentSpec.load(REPO / "examples" / "team-dsvm.toml")
    assert s.name == "team-dsvm" and s.tags["team"] == "vision"


def test_bad_toml_error_names_the_file_and_line(tmp_path):
    path = write(tmp_path, 'name = "ok"\nsize = "Standard_D4ds_v5\n')
    with pytest.raises(UsageError) as caught:
        EnvironmentSpec.load(path)
    assert f"{path}:2: not valid TOML" in str(caught.value)


def test_missing_spec_file_is_a_usage_error_naming_it(tmp_path):
    with pytest.raises(UsageError, match="no such spec file"):
        EnvironmentSpec.load(tmp_path / "absent.toml")


def test_unknown_key_is_refused_with_its_line_and_a_suggestion(tmp_path):
    path = write(tmp_path, 'name = "team-dsvm"\ngpu_sise = "Standard_NC4as_T4_v3"\n')
    with pytest.raises(UsageError) as caught:
        EnvironmentSpec.load(path)
    assert f"{path}:2: gpu_sise: unknown key; did you mean 'gpu_size'?" in str(caught.value)


def test_unknown_key_inside_auto_shutdown_is_refused(tmp_path):
    path = write(tmp_path, 'name = "team-dsvm"\n[auto_shutdown]\ntimezone = "UTC"\n')
    with pytest.raises(UsageError) as caught:
        EnvironmentSpec.load(path)
    assert f"{path}:3: auto_shutdown.timezone: unknown key; did you mean 'time_zone'?" in str(caught.value)


def test_every_problem_in_a_file_is_listed_at_once_each_as_file_line_field_message(tmp_path):
    path = write(tmp_path, 'name = "team-dsvm"\nadmin_user = "root"\nallowed_sources = ["*"]\nos_disk_type = "SSD"\n')
    with pytest.raises(UsageError) as caught:
        EnvironmentSpec.load(path)
    lines = str(caught.value).splitlines()
    assert "3 problems" in lines[0]
    assert [line.split(": ")[:2] for line in lines[1:]] == [
        [f"  {path}:2", "admin_user"], [f"  {path}:3", "allowed_sources"], [f"  {path}:4", "os_disk_type"]]


def test_errors_never_show_a_pydantic_traceback_or_url(tmp_path):
    text = refused(spot="maybe")
    assert "pydantic" not in text.lower() and "errors.pydantic.dev" not in text


def test_missing_name_is_reported_as_required():
    with pytest.raises(UsageError, match="name: is required"):
        EnvironmentSpec.from_dict({})


def test_relative_ssh_key_is_found_beside_the_spec_file(tmp_path):
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "id_ed25519").write_text("private")
    s = EnvironmentSpec.load(write(tmp_path, 'name = "team-dsvm"\nssh_key = "keys/id_ed25519"\n'))
    assert s.ssh_key == (tmp_path / "keys" / "id_ed25519").resolve()


# --- validation errors ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["-team", "team_dsvm", "team dsvm", "a" * 65, ""])
def test_invalid_vm_names_are_refused(name):
    assert "name:" in refused(name=name)


def test_windows_name_longer_than_15_characters_is_refused_with_a_shorter_suggestion():
    text = refused(name="team-dsvm-windows-gpu", image="win-2022")
    assert "a Windows computer name has at most 15" in text and "try 'team-dsvm'" in text


def test_long_name_is_fine_on_ubuntu():
    assert spec(name="team-dsvm-ubuntu-gpu-training").name == "team-dsvm-ubuntu-gpu-training"


@pytest.mark.parametrize("user", ["admin", "Administrator", "root", "guest", "test", "user1"])
def test_reserved_admin_names_are_refused(user):
    assert "reserves" in refused(admin_user=user)


def test_linux_admin_name_with_capitals_is_refused():
    assert "Linux user names" in refused(admin_user="Alice")


@pytest.mark.parametrize("source", ["*", "Internet", "INTERNET", "any", "0.0.0.0/0", "::/0"])
def test_open_to_everyone_sources_are_refused_in_any_case(source):
    assert "whole internet" in refused(allowed_sources=[source])


def test_source_that_is_not_an_address_is_refused():
    assert "not an IP address or CIDR range" in refused(allowed_sources=["office"])


def test_cidr_with_host_bits_set_is_refused_with_the_network_suggested():
    assert "'203.0.113.0/24'" in refused(allowed_sources=["203.0.113.7/24"])


def test_more_than_one_source_is_refused_because_the_templates_take_one():
    assert "use a single CIDR" in refused(allowed_sources=["203.0.113.7/32", "198.51.100.1/32"])


def test_empty_source_list_is_refused():
    assert "allowed_sources: is empty" in refused(allowed_sources=[])


def test_unknown_image_is_refused_listing_the_known_aliases():
    text = refused(image="ubuntu-2404")
    assert "not a Data Science VM image" in text and "ubuntu-2204" in text


def test_retired_image_is_refused_with_the_current_one_as_fix():
    text = refused(image="ubuntu-1804")
    assert "retired" in text and "use image 'ubuntu-2204'" in text


def test_pinned_image_version_is_refused_because_templates_deploy_latest():
    assert "pins version" in refused(image="microsoft-dsvm:ubuntu-2204:2204-gen2:25.05.12")


def test_os_that_contradicts_the_image_is_refused():
    assert "does not match image" in refused(os="windows", image="ubuntu-2204")


def test_size_that_is_not_a_size_name_is_refused_with_a_suggestion():
    assert "did you mean 'Standard_D4ds_v5'" in refused(size="D4ds_v5")


def test_size_missing_from_the_snapshot_is_left_to_preflight():
    assert spec(size="Standard_D2ds_v6").size == "Standard_D2ds_v6"


def test_os_disk_smaller_than_the_image_is_refused():
    assert "needs 150 to 4095 GiB" in refused(os_disk_size_gb=30)


def test_unknown_os_disk_type_is_refused_listing_the_allowed_ones():
    assert "Premium_LRS" in refused(os_disk_type="UltraSSD_LRS")


def test_os_disk_type_is_matched_case_insensitively():
    assert spec(os_disk_type="standardssd_lrs").os_disk_type == "StandardSSD_LRS"


def test_shutdown_time_must_be_hh_mm_and_the_fix_is_written_out():
    assert "write '19:00'" in refused(auto_shutdown={"time": "1900"})


def test_shutdown_time_out_of_range_is_refused():
    assert "not a 24-hour time" in refused(auto_shutdown={"time": "25:00"})


def test_iana_time_zone_is_refused_with_the_windows_id():
    assert "'W. Europe Standard Time'" in refused(auto_shutdown={"time_zone": "Europe/Berlin"})


def test_max_price_without_spot_is_refused():
    assert "spot VMs only" in refused(max_price=0.5)


def test_negative_max_price_other_than_minus_one_is_refused():
    assert "not a price" in refused(spot=True, max_price=-2)


def test_dsvmctl_tags_are_reserved_for_the_tool():
    assert "set by dsvmctl" in refused(tags={"dsvmctl-gpu-size": "x"})


def test_ssh_key_that_does_not_exist_is_refused(tmp_path):
    assert "does not exist" in refused(ssh_key=str(tmp_path / "nope"))


def test_public_key_given_as_ssh_key_is_refused_with_the_private_path(tmp_path):
    assert "give the private key" in refused(ssh_key=str(tmp_path / "id_ed25519.pub"))


# --- overrides --------------------------------------------------------------------------------------


def test_flags_override_the_file_and_none_means_not_given():
    s = spec(size="Standard_D8ds_v5").with_overrides(location="westeurope", size=None)
    assert (s.location, s.size) == ("westeurope", "Standard_D8ds_v5")


def test_renaming_by_flag_moves_the_derived_resource_group():
    assert spec().with_overrides(name="bob").resource_group == "dsvmctl-bob"


def test_explicit_resource_group_survives_a_rename():
    assert spec(resource_group="shared-rg").with_overrides(name="bob").resource_group == "shared-rg"


def test_overriding_the_shutdown_time_keeps_the_files_time_zone():
    s = spec(auto_shutdown={"time_zone": "Tokyo Standard Time"}).with_overrides(auto_shutdown="18:30")
    assert (s.auto_shutdown.time, s.auto_shutdown.time_zone) == ("18:30", "Tokyo Standard Time")


def test_a_bad_flag_is_blamed_on_the_flags_not_the_file(tmp_path):
    loaded = EnvironmentSpec.load(write(tmp_path, 'name = "team-dsvm"\n'))
    with pytest.raises(UsageError) as caught:
        loaded.with_overrides(allowed_sources=["*"])
    assert "<flags>: allowed_sources:" in str(caught.value)


def test_a_file_error_revealed_by_a_flag_still_points_at_the_files_line(tmp_path):
    path = write(tmp_path, 'name = "team-dsvm-windows-box"\n')
    with pytest.raises(UsageError) as caught:
        EnvironmentSpec.load(path).with_overrides(os="windows")
    assert f"{path}:1: name:" in str(caught.value)


def test_overriding_a_field_that_does_not_exist_is_a_programming_error():
    with pytest.raises(TypeError):
        spec().with_overrides(colour="red")


# --- template parameters ------------------------------------------------------------------------------


def template_parameter_names(name: str) -> set[str]:
    return set(json.loads((REPO / "templates" / name).read_text())["parameters"])


def test_template_parameters_are_all_declared_by_the_shipped_ubuntu_template():
    params = spec().template_parameters("ssh-ed25519 AAAA", "203.0.113.7")
    assert set(params) <= template_parameter_names("dsvm-ubuntu.json")


def test_windows_template_parameters_leave_the_password_to_the_caller():
    params = EnvironmentSpec.from_dict({"name": "win", "os": "windows"}).template_parameters("k", "203.0.113.7/32")
    assert set(params) <= template_parameter_names("dsvm-windows.json") and "adminPassword" not in params
    assert (params["imageOffer"], params["imageSku"]) == ("dsvm-win-2022", "winserver-2022")


def test_template_parameters_carry_the_spec_values():
    s = spec(spot=True, max_price=-1, auto_shutdown={"time": "18:30"}, tags={"team": "vision"}, gpu_size="")
    params = s.template_parameters("ssh-ed25519 AAAA", "203.0.113.7", "HOSTKEY", "ssh-ed25519 HOST")
    assert params["allowedSourceAddress"] == "203.0.113.7/32"
    assert (params["priority"], params["spotMaxPrice"], params["autoShutdownTime"]) == ("Spot", -1, "1830")
    assert (params["gpuVmSize"], params["tags"], params["sshHostKey"]) == ("", {"team": "vision"}, "HOSTKEY")


def test_template_parameters_use_the_specs_source_when_the_caller_passes_none():
    params = spec(allowed_sources=["198.51.100.0/24"]).template_parameters("k")
    assert params["allowedSourceAddress"] == "198.51.100.0/24"


def test_template_parameters_without_any_source_are_refused():
    with pytest.raises(UsageError, match="no allowed source"):
        spec().template_parameters("k")


def test_template_parameters_refuse_an_open_source_from_the_caller_too():
    with pytest.raises(UsageError, match="whole internet"):
        spec().template_parameters("k", "0.0.0.0/0")


def test_fractional_spot_price_is_refused_until_the_templates_take_one():
    with pytest.raises(UsageError, match="whole-dollar"):
        spec(spot=True, max_price=0.3).template_parameters("k", "203.0.113.7")


@pytest.mark.parametrize("fields", [{}, {"os": "windows", "name": "win"}, {"spot": True, "max_price": 2, "gpu_size": ""}])
def test_template_parameters_expand_the_shipped_template_and_pass_its_lint(fields):
    from dsvmctl.arm import expand, lint, load_template

    s = spec(**fields)
    params = s.template_parameters("ssh-ed25519 AAAAC3Nza you@example", "203.0.113.7", "", "")
    if s.os == "windows":
        params["adminPassword"] = "Correct-Horse-9-Battery"
    template = load_template(REPO / "templates" / s.template_file)
    assert expand(template, params).find("Microsoft.Compute/virtualMachines")
    assert lint(template, parameters=params) == []
