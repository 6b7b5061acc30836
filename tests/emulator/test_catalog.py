"""Azure's catalog from data: every size of the modelled regions and the common marketplace images,
served by the compute provider and used by preflight."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from dsvmctl.catalog import images, sizes

from .builders import linux_vm, network_for_vm, windows_vm

DATA = Path(sizes.__file__).resolve().parent.parent / "data" / "catalog.json"


def test_every_modelled_region_offers_the_sizes_its_dump_lists():
    for region in sizes.REGIONS:
        offered = {s.name for s in sizes.offered_in(region)}
        assert {"Standard_DS1_v2", "Standard_D2s_v3", "Standard_NC4as_T4_v3"} <= offered, region
        assert len(offered) > 100, region
    assert "Standard_NC6" not in {s.name for s in sizes.offered_in("eastus")}  # retired: known, not offered
    assert sizes.lookup("standard_nc6").retired


def test_sizes_carry_real_capabilities():
    ds1 = sizes.lookup("Standard_DS1_v2")
    assert (ds1.vcpus, ds1.memory_gb, ds1.temp_disk_gb, ds1.family) == (1, 3.5, 7, "standardDSv2Family")
    a100 = sizes.lookup("Standard_NC24ads_A100_v4")
    assert a100.generations == ("V2",) and a100.gpus == 1
    b1 = sizes.lookup("Standard_B1ms")
    assert b1.accelerated_networking is False and b1.premium_io is True


def test_the_data_file_stays_small():
    assert DATA.stat().st_size < 1_500_000


def test_the_build_script_regenerates_the_bundled_file(tmp_path, shared):
    out = tmp_path / "catalog.json"
    subprocess.run([sys.executable, "scripts/build_catalog.py", str(shared("catalog-data")), "--out", str(out)],
                   check=True, capture_output=True, cwd=Path(__file__).resolve().parents[2], timeout=120)
    assert json.loads(out.read_text()) == json.loads(DATA.read_text())


def test_list_skus_and_sizes_serve_the_catalog(door):
    compute = door.compute_client()
    eastus = [s.name for s in compute.virtual_machine_sizes.list("eastus")]
    assert len(eastus) == len(sizes.offered_in("eastus")) and "Standard_DS1_v2" in eastus
    skus = list(compute.resource_skus.list(filter="location eq 'westeurope'"))
    assert {s.locations[0] for s in skus} == {"westeurope"}
    ds1 = next(s for s in skus if s.name == "Standard_DS1_v2")
    caps = {c.name: c.value for c in ds1.capabilities}
    assert (caps["vCPUs"], caps["MemoryGB"], caps["MaxResourceVolumeMB"]) == ("1", "3.5", str(7 * 1024))
    usages = {u.name.value for u in compute.usage.list("eastus")}
    assert "standardDSv2Family" in usages


def test_marketplace_images_list_and_resolve(door):
    compute = door.compute_client()
    images_api = compute.virtual_machine_images
    publishers = [p.name for p in images_api.list_publishers("eastus")]
    assert {"Canonical", "Debian", "RedHat", "MicrosoftWindowsServer", "microsoft-dsvm"} <= set(publishers)
    offers = [o.name for o in images_api.list_offers("eastus", "canonical")]
    assert {"0001-com-ubuntu-server-focal", "0001-com-ubuntu-server-jammy", "ubuntu-24_04-lts"} <= set(offers)
    skus = [s.name for s in images_api.list_skus("eastus", "Canonical", "0001-com-ubuntu-server-jammy")]
    assert "22_04-lts-gen2" in skus
    versions = [v.name for v in images_api.list("eastus", "Canonical", "0001-com-ubuntu-server-jammy",
                                                 "22_04-lts-gen2")]
    newest = images_api.list("eastus", "Canonical", "0001-com-ubuntu-server-jammy", "22_04-lts-gen2",
                             top=1, orderby="name desc")
    assert [v.name for v in newest] == [max(versions, key=images.version_key)]
    image = images_api.get("eastus", "Canonical", "0001-com-ubuntu-server-jammy", "22_04-lts-gen2", versions[0])
    assert image.hyper_v_generation == "V2" and image.os_disk_image.operating_system == "Linux"
    # As the 2023-09-01 API answers: the OS disk's size in bytes, and the image's deprecation state.
    raw = door.request("GET", f"/subscriptions/{door.subscription_id}/providers/Microsoft.Compute/locations/eastus/"
                       "publishers/Canonical/artifacttypes/vmimage/offers/0001-com-ubuntu-server-jammy/skus/"
                       f"22_04-lts-gen2/versions/{versions[0]}", api_version="2023-09-01").json()["properties"]
    assert raw["osDiskImage"]["sizeInBytes"] == 30 * 1024**3
    assert raw["imageDeprecationStatus"] == {"imageState": "Active"}
    win = images_api.list_skus("eastus", "MicrosoftWindowsServer", "WindowsServer")
    assert {"2019-datacenter-gensecond", "2022-datacenter-azure-edition", "2025-datacenter-azure-edition"} <= {
        s.name for s in win}
    debian = [v.name for v in images_api.list("eastus", "Debian", "debian-12", "12-gen2")]
    assert debian and all(v.startswith("0.") for v in debian)
    with pytest.raises(ResourceNotFoundError) as missing:
        images_api.list_skus("eastus", "Canonical", "no-such-offer")
    assert "Artifact: VMImage was not found" in missing.value.message


def test_a_vm_from_canonical_latest_records_the_exact_version_and_size_from_data(door):
    nic_id = network_for_vm(door, "rg")
    ubuntu = {"publisher": "canonical", "offer": "0001-com-ubuntu-server-jammy", "sku": "22_04-lts-gen2",
              "version": "latest"}
    vm = door.compute_client().virtual_machines.begin_create_or_update(
        "rg", "vm1", linux_vm(nic_id, "Standard_DS1_v2", ubuntu)).result()
    reference = vm.storage_profile.image_reference
    assert reference.publisher == "Canonical"
    assert reference.exact_version == max(images.sku_facts("Canonical", "0001-com-ubuntu-server-jammy",
                                                          "22_04-lts-gen2")[3]["versions"], key=images.version_key)
    with pytest.raises(HttpResponseError) as refused:
        door.compute_client().virtual_machines.begin_create_or_update("rg", "vm2", linux_vm(
            nic_id, "Standard_DS1_v2", {**ubuntu, "sku": "22_04-lts-gen9"}, name="vm2")).result()
    assert refused.value.error.code == "PlatformImageNotFound"


def test_the_own_subscription_script_passes_through_the_in_process_door(tmp_path):
    script = Path(__file__).resolve().parents[2] / "examples" / "own_subscription.py"
    done = subprocess.run([sys.executable, str(script), "--in-process"], capture_output=True, text=True, timeout=120,
                          env={**__import__("os").environ, "DSVMCTL_HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"subscription_in_ids": True, "size_after": "Standard_DS2_v2", "os_disk_kept": True,
                      "power": ["PowerState/running"], "canonical_listed": True, "group_left": False}


def test_the_own_subscription_script_passes_through_emulator_serve(tmp_path):
    import os
    import time

    script = Path(__file__).resolve().parents[2] / "examples" / "own_subscription.py"
    state = tmp_path / "emulator"
    server = subprocess.Popen([sys.executable, "-m", "dsvmctl", "emulator", "serve", "--port", "0", "--state-dir",
                               str(state)], env={**os.environ, "DSVMCTL_HOME": str(tmp_path / "home")})
    try:
        deadline = time.monotonic() + 30
        while not (state / "endpoint.json").exists() and time.monotonic() < deadline and server.poll() is None:
            time.sleep(0.05)
        done = subprocess.run([sys.executable, str(script), "--endpoint", str(state / "endpoint.json")],
                              capture_output=True, text=True, timeout=120)
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"subscription_in_ids": True, "size_after": "Standard_DS2_v2", "os_disk_kept": True,
                      "power": ["PowerState/running"], "canonical_listed": True, "group_left": False}


def test_dsvmctl_images_lists_a_marketplace_publisher_from_the_catalog():
    from click.testing import CliRunner

    from dsvmctl.cli import cli

    result = CliRunner().invoke(cli, ["images", "--publisher", "microsoftwindowsserver", "-o", "json"])
    assert result.exit_code == 0, result.output
    listed = json.loads(result.output)
    assert listed["publisher"] == "MicrosoftWindowsServer"
    urns = [row["urn"] for row in listed["images"]]
    assert any(u.startswith("MicrosoftWindowsServer:WindowsServer:2025-datacenter-azure-edition:") for u in urns)
    assert {row["os"] for row in listed["images"]} == {"Windows"}
    unknown = CliRunner().invoke(cli, ["images", "--publisher", "no-such-publisher"])
    assert unknown.exit_code == 2 and "no images of publisher 'no-such-publisher'" in unknown.output


def test_every_image_the_aliases_document_names_is_listed():
    aliases = images.vm_image_alias_doc()["outputs"]["aliases"]["value"]
    for group in aliases.values():
        for alias, ref in group.items():
            if images.offers(ref["publisher"]) is not None:  # else: any image of the publisher is taken
                assert images.sku_facts(ref["publisher"], ref["offer"], ref["sku"]), alias


def test_a_vm_from_an_older_windows_server_alias_is_created_and_an_unknown_sku_refused(door):
    nic_id = network_for_vm(door, "rg")
    compute = door.compute_client()
    body = windows_vm(nic_id, "win16")
    body["properties"]["storageProfile"]["imageReference"] = {
        "publisher": "MicrosoftWindowsServer", "offer": "WindowsServer", "sku": "2016-Datacenter", "version": "latest"}
    vm = compute.virtual_machines.begin_create_or_update("rg", "win16", body).result()
    assert vm.storage_profile.image_reference.exact_version.startswith("14393.")
    assert vm.storage_profile.os_disk.os_type == "Windows"
    compute.virtual_machines.begin_delete("rg", "win16").result()
    body["properties"]["storageProfile"]["imageReference"]["sku"] = "2003-Datacenter"
    with pytest.raises(HttpResponseError) as refused:
        compute.virtual_machines.begin_create_or_update("rg", "win12", body).result()
    assert refused.value.error.code == "PlatformImageNotFound"
