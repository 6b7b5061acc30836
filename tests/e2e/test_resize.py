"""Resize between CPU and GPU sizes on the local cloud, keeping the OS disk: plan, refusals,
journal and resume after a crash, rollback when Azure has no capacity, and the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from dsvmctl import Cloud, EnvironmentSpec
from dsvmctl.cli import cli
from dsvmctl.cloud.resize import ResizeIncomplete, ResizeRefused, resume
from dsvmctl.errors import UsageError

CPU, CPU_BIGGER, GPU = "Standard_D4ds_v5", "Standard_D8ds_v5", "Standard_NC4as_T4_v3"
RESULT_FIELDS = {"from", "to", "plan", "deallocated", "os_disk_id_before", "os_disk_id_after", "verified", "marker",
                 "seconds", "rolled_back", "journal"}
WRITES = ("PUT", "PATCH", "POST", "DELETE")


@pytest.fixture
def home() -> Path:
    return Path(os.environ["DSVMCTL_HOME"])  # per test (tests/conftest.py), shared with CLI subprocesses


@pytest.fixture
def cloud(home):
    with Cloud.local(home=home) as cloud:
        yield cloud


@pytest.fixture
def lab(cloud):
    """A running D4ds_v5 Ubuntu (Gen2) VM with a file of the user's on its OS disk."""
    machine = cloud.up(EnvironmentSpec.from_dict({"name": "lab"}))
    assert run(machine, "echo kept-across-resizes > ~/work.txt") == ""
    return machine


def run(machine, command: str) -> str:
    with machine.session() as session:
        code, out, err = session.run(command)
    assert code == 0, err
    return out.strip()


def writes(cloud) -> int:
    return sum(1 for method, _path, _status in cloud.backend.emulator.request_log if method in WRITES)


def requests_to(cloud, method: str, suffix: str) -> int:
    return cloud.backend.emulator.count_requests(method, f"/virtualMachines/lab{suffix}$")


def dsvmctl(home: Path, *args: str, crash_after: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "DSVMCTL_HOME": str(home)}
    env.pop("DSVMCTL_RESIZE_CRASH_AFTER", None)
    if crash_after:
        env["DSVMCTL_RESIZE_CRASH_AFTER"] = crash_after
    return subprocess.run([sys.executable, "-m", "dsvmctl", *args], capture_output=True, text=True, env=env,
                          timeout=60)


# --- the round trip ---------------------------------------------------------------------------------------------


def test_cpu_to_gpu_and_back_keeps_the_os_disk_and_the_files_on_it(lab):
    disk_id = lab.status().os_disk_id
    began = time.monotonic()

    to_gpu = lab.resize(GPU)
    assert run(lab, "cat ~/work.txt") == "kept-across-resizes"
    to_cpu = lab.resize(CPU)
    assert run(lab, "cat ~/work.txt") == "kept-across-resizes"
    round_trip = time.monotonic() - began

    for result, size in ((to_gpu, GPU), (to_cpu, CPU)):
        assert RESULT_FIELDS <= set(result.to_json())
        assert result.to_size == size and result.size == size and result.power_state == "running"
        assert result.plan["steps"] == ["deallocate", "resize", "start"]
        assert result.deallocated and result.verified and not result.rolled_back
        assert result.marker == "verified"
        assert result.os_disk_id_before == result.os_disk_id_after == disk_id
        assert Path(result.journal).name == "resize-journal.json"
    assert (to_gpu.from_size, to_cpu.from_size) == (CPU, GPU)
    assert lab.status().size == CPU and lab.status().os_disk_id == disk_id
    assert round_trip < 10, f"CPU -> GPU -> CPU took {round_trip:.1f} s on the local cloud"


def test_resize_within_the_hardware_cluster_is_one_patch_without_deallocation(cloud, lab):
    result = lab.resize(CPU_BIGGER)
    assert result.plan["kind"] == "in_place" and not result.deallocated
    assert (requests_to(cloud, "PATCH", ""), requests_to(cloud, "POST", "/deallocate"),
            requests_to(cloud, "POST", "/start")) == (1, 0, 0)
    assert result.verified and result.marker == "verified" and result.size == CPU_BIGGER


def test_resize_across_clusters_deallocates_resizes_and_starts_once_each(cloud, lab):
    lab.resize(GPU)
    assert (requests_to(cloud, "POST", "/deallocate"), requests_to(cloud, "PATCH", ""),
            requests_to(cloud, "POST", "/start")) == (1, 1, 1)


def test_deallocated_vm_stays_deallocated_unless_asked_to_start(lab):
    lab.stop()
    result = lab.resize(GPU)
    assert (result.size, result.power_state, result.plan["steps"]) == (GPU, "deallocated", ["resize"])
    assert result.verified and result.marker == "skipped: VM was not running before the resize"
    assert "VM is deallocated" in result.message

    started = lab.resize(CPU, start=True)
    assert (started.size, started.power_state) == (CPU, "running")
    assert run(lab, "cat ~/work.txt") == "kept-across-resizes"


# --- refused before any write -------------------------------------------------------------------------------------


@pytest.mark.parametrize("image, target, code, fix", [
    ("ubuntu-2204", "Standard_D4s_v5", "temp-disk-pairing", "or resize to Standard_D4ads_v5"),
    ("ubuntu-2004-gen1", "Standard_NC24ads_A100_v4", "hyperv-generation", "recreate the VM from a Gen2 image"),
    ("ubuntu-2204", "Standard_NC24ads_A100_v4", "quota", "request a quota increase for StandardNCADSA100v4Family"),
    ("ubuntu-2204", "Standard_NC40ads_H100_v5", "size-restricted", "ask Azure support to enable it"),
], ids=["temp-disk", "generation", "quota", "restricted"])
def test_impossible_resize_is_refused_before_any_write_with_the_fix(cloud, image, target, code, fix):
    machine = cloud.up(EnvironmentSpec.from_dict({"name": "lab", "image": image}))
    before = writes(cloud)
    with pytest.raises(ResizeRefused) as refused:
        machine.resize(target)
    assert writes(cloud) == before
    assert code in [b.code for b in refused.value.plan.blockers]
    assert fix in str(refused.value) and refused.value.exit_code == 2
    assert machine.status().size == CPU and machine.status().power_state == "running"
    assert not Path(refused.value.result.journal).exists()


def test_dry_run_returns_the_plan_and_writes_nothing(cloud, lab):
    before = writes(cloud)
    result = lab.resize(GPU, dry_run=True)
    assert writes(cloud) == before
    assert result.dry_run and result.plan["steps"] == ["deallocate", "resize", "start"]
    assert any("temp disk" in w for w in result.plan["warnings"])
    assert lab.status().size == CPU and not Path(result.journal).exists()


# --- crashes, interruptions and resume -----------------------------------------------------------------------------


@pytest.mark.parametrize("crash_after", ["deallocate", "resize", "start"])
def test_killed_resize_converges_when_run_again_without_repeating_a_step(home, crash_after):
    with Cloud.local(home=home) as cloud:
        machine = cloud.up(EnvironmentSpec.from_dict({"name": "lab"}))
        run(machine, "echo kept-across-resizes > ~/work.txt")
        disk_id = machine.status().os_disk_id

    killed = dsvmctl(home, "resize", "lab", "--size", GPU, crash_after=crash_after)
    assert killed.returncode == 137, killed.stderr
    finished = dsvmctl(home, "resize", "lab", "--size", GPU, "-o", "json")
    assert finished.returncode == 0, finished.stderr
    result = json.loads(finished.stdout)

    assert result["resumed"] and result["verified"] and result["marker"] == "verified"
    assert (result["size"], result["power_state"], result["os_disk_id_after"]) == (GPU, "running", disk_id)
    steps = {step["name"]: step for step in json.loads(Path(result["journal"]).read_text())["steps"]}
    assert [s["requests"] for s in steps.values()] == [1, 1, 1]  # each sent to Azure once, over both runs
    # Steps up to the crash ran in the killed process only; the rest in the second one only.
    names = list(steps)
    crashed_at = names.index(crash_after)
    killed_pid = steps[crash_after]["runs"][0]
    assert all(steps[n]["runs"] == [killed_pid] for n in names[:crashed_at + 1])
    assert all(killed_pid not in steps[n]["runs"] and len(steps[n]["runs"]) == 1 for n in names[crashed_at + 1:])

    with Cloud.local(home=home) as cloud:
        assert run(cloud.machine("lab"), "cat ~/work.txt") == "kept-across-resizes"


def test_ctrl_c_midway_says_the_vm_is_deallocated_and_resume_finishes(lab):
    def interrupt_after_deallocate(message: str) -> None:
        if message.startswith("resizing"):
            raise KeyboardInterrupt

    with pytest.raises(ResizeIncomplete) as stopped:
        lab.resize(GPU, progress=interrupt_after_deallocate)
    assert "VM is deallocated" in str(stopped.value) and "dsvmctl resume lab" in str(stopped.value)
    assert stopped.value.exit_code == 130 and lab.status().power_state == "deallocated"

    with pytest.raises(UsageError, match="unfinished") as other_target:
        lab.resize(CPU_BIGGER)
    assert "dsvmctl resume lab" in str(other_target.value) and "--abandon" in str(other_target.value)

    result = resume(lab)
    assert result.resumed and result.verified and result.marker == "verified"
    assert [s.get("skipped") for s in result.steps] == [None, None, None]
    assert (result.size, result.power_state) == (GPU, "running")


def test_lost_network_during_the_patch_leaves_an_open_journal_that_resume_finishes(cloud, lab):
    cloud.backend.emulator.faults.connection_reset("PATCH", "/virtualMachines/lab$", times=None)
    with pytest.raises(ResizeIncomplete) as stopped:
        lab.resize(GPU)
    assert "during resize" in str(stopped.value) and "VM is deallocated" in str(stopped.value)
    cloud.backend.emulator.faults.clear()

    result = lab.resize(GPU)  # the same command again
    assert result.resumed and result.verified and result.size == GPU
    assert requests_to(cloud, "POST", "/deallocate") == 1


def test_each_outcome_has_the_json_fields_scripts_read(cloud, lab):
    """The `-o json` documents of a dry run, a stop midway and a finished resize: their fields."""
    common = {"name", "from", "to", "plan", "os_disk_id_before", "verified", "seconds", "rolled_back", "journal"}
    planned = lab.resize(GPU, dry_run=True).to_json()
    assert set(planned) == common | {"power_state_before", "deallocated", "os_disk_id_after", "marker", "dry_run"}
    cloud.backend.emulator.faults.connection_reset("PATCH", "/virtualMachines/lab$", times=None)
    with pytest.raises(ResizeIncomplete) as stopped:
        lab.resize(GPU)
    cloud.backend.emulator.faults.clear()
    midway = stopped.value.result.to_json()
    assert set(midway) == common | {"size", "power_state", "incomplete", "message", "steps"}
    assert (midway["incomplete"], midway["power_state"]) == (True, "deallocated")
    done = json.loads(json.dumps(lab.resume().to_json()))  # as -o json prints it
    assert set(done) == common | {"size", "power_state", "power_state_before", "deallocated", "os_disk_id_after",
                                  "checks", "marker", "resumed", "steps", "warnings", "message"}
    assert (done["power_state"], done["power_state_before"], done["size"]) == ("running", "running", GPU)


def test_resume_without_an_unfinished_resize_says_so(lab):
    with pytest.raises(UsageError, match="no unfinished resize of lab"):
        resume(lab)


# --- rollback --------------------------------------------------------------------------------------------------


def test_no_capacity_for_the_new_size_rolls_back_to_the_old_one_running(cloud, lab):
    disk_id = lab.status().os_disk_id
    cloud.backend.emulator.faults.allocation_failure("POST", "/virtualMachines/lab/start$")
    result = lab.resize(GPU)
    assert result.rolled_back and result.error["azure_code"] == "AllocationFailed"
    assert "no capacity for Standard_NC4as_T4_v3" in result.message and "resized back to" in result.message
    assert (result.size, result.power_state, result.os_disk_id_after) == (CPU, "running", disk_id)
    assert result.verified and result.marker == "verified"
    assert run(lab, "cat ~/work.txt") == "kept-across-resizes"


def test_a_rollback_that_fails_too_says_the_vm_is_deallocated_and_resume_finishes_it(cloud, lab):
    cloud.backend.emulator.faults.allocation_failure("POST", "/virtualMachines/lab/start$", times=2)
    with pytest.raises(ResizeIncomplete) as stopped:
        lab.resize(GPU)
    message = str(stopped.value)
    assert "while rolling back to Standard_D4ds_v5" in message and "no capacity for Standard_D4ds_v5" in message
    assert "VM is deallocated (size Standard_D4ds_v5): resume with `dsvmctl resume lab`" in message

    result = resume(lab)
    assert result.rolled_back and (result.size, result.power_state) == (CPU, "running")
    assert result.verified and result.marker == "verified"


def test_quota_taken_meanwhile_rolls_back_with_the_planners_quota_message(cloud, lab):
    def someone_takes_the_quota(message: str) -> None:
        if message.startswith("starting"):
            cloud.backend.emulator.set_quota("eastus", "standardNCASv3_T4Family", 0)

    result = lab.resize(GPU, progress=someone_takes_the_quota)
    assert result.rolled_back and result.error["code"] == "quota"
    assert "request a quota increase for standardNCASv3_T4Family in eastus" in result.error["fix"]
    assert (result.size, result.power_state) == (CPU, "running")


# --- the command line -----------------------------------------------------------------------------------------


def test_cli_dry_run_prints_numbered_steps_and_changes_nothing(home, lab):
    state_file = home / "local-cloud" / "state.json"
    before = state_file.read_bytes()
    result = CliRunner().invoke(cli, ["resize", "lab", "--size", GPU, "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "1. deallocate" in result.output and "3. start" in result.output
    assert "warning: the temp disk" in result.output and "nothing was changed" in result.output
    assert state_file.read_bytes() == before


def test_cli_refusal_exits_2_with_blockers_in_json(lab):
    result = CliRunner().invoke(cli, ["resize", "lab", "--size", "Standard_D4s_v5", "-o", "json"])
    assert result.exit_code == 2
    plan = json.loads(result.stdout)["plan"]
    assert plan["kind"] == "impossible" and "or resize to Standard_D4ads_v5" in plan["blockers"][0]["fix"]


def test_cli_resize_prints_the_verification(lab):
    result = CliRunner().invoke(cli, ["resize", "lab", "--size", GPU])
    assert result.exit_code == 0, result.output
    for line in ("ok   OS disk kept", "ok   size reported by Azure: Standard_NC4as_T4_v3",
                 "ok   marker file on the OS disk: verified", "verified in"):
        assert line in result.output


def test_cli_rollback_exits_1_and_says_what_happened(cloud, lab, monkeypatch):
    monkeypatch.setattr(Cloud, "open", classmethod(lambda cls, kind, home=None, **_: cloud))  # keep the injected fault
    cloud.backend.emulator.faults.allocation_failure("POST", "/virtualMachines/lab/start$")
    result = CliRunner().invoke(cli, ["resize", "lab", "--size", GPU])
    assert result.exit_code == 1, result.output
    assert "rolled back: Azure has no capacity for Standard_NC4as_T4_v3" in result.output
    assert "resized back to Standard_D4ds_v5 and running" in result.output
