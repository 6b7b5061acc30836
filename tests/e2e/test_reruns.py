"""Re-runs converge: each command run a second time, as its own process, exits 0 and changes
nothing, as a user re-running a command (or a script retrying one) expects."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

DSVMCTL = str(Path(sys.executable).with_name("dsvmctl"))
# Stamps ARM rewrites on every write, whatever it writes: a deployment's time and correlation
# id, each resource's etag (a version stamp).
VOLATILE = ("timestamp", "correlationId", "duration", "etag")


def _without_stamps(value):
    if isinstance(value, dict):
        return {k: _without_stamps(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_without_stamps(v) for v in value]
    return value


def dsvmctl(home: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    env = {**os.environ, "DSVMCTL_HOME": str(home), "DSVMCTL_CLOUD": "local",
           "DSVMCTL_REMOTE_PYTHON": sys.executable, "XDG_CACHE_HOME": str(home.parent / "cache")}
    result = subprocess.run([DSVMCTL, *args], capture_output=True, text=True, env=env, timeout=timeout,
                            cwd=home.parent)
    assert "Traceback" not in result.stderr, result.stderr
    return result


def cloud_state(home: Path) -> dict:
    """What the local cloud holds (resources, power states), less what every deployment stamps."""
    state = json.loads((home / "local-cloud" / "state.json").read_text())
    resources = _without_stamps(state["resources"])
    power = {key: meta.get("power") for key, meta in state["meta"].items() if "power" in meta}
    return {"resources": resources, "power": power}


def twice(home: Path, *args: str) -> tuple[subprocess.CompletedProcess, subprocess.CompletedProcess]:
    first = dsvmctl(home, *args)
    assert first.returncode == 0, first.stderr
    before = cloud_state(home)
    second = dsvmctl(home, *args)
    assert second.returncode == 0, f"second `dsvmctl {' '.join(args)}` exited {second.returncode}: {second.stderr}"
    assert cloud_state(home) == before, f"the second `dsvmctl {' '.join(args)}` changed the cloud"
    return first, second


@pytest.mark.slow
def test_every_command_run_twice_changes_nothing_the_second_time_and_exits_0(tmp_path):
    home = tmp_path / "home"
    twice(home, "up", "lab")
    _, again = twice(home, "push", "lab", "-o", "json")
    assert json.loads(again.stdout)["files_sent"] == 0
    twice(home, "stop", "lab")
    twice(home, "start", "lab")
    _, again = twice(home, "resize", "lab", "--size", "Standard_D4ds_v5")
    assert "nothing to do" in again.stdout
    _, again = twice(home, "down", "lab", "--yes")
    assert "already gone" in again.stdout
    twice(home, "gc", "--yes")
    assert dsvmctl(home, "list", "-o", "json").stdout.count('"name"') == 0


def test_up_after_a_deployment_finished_on_a_get_poll_adopts_it(tmp_path):
    """The deployment ends during a GET poll; that end must be saved, or the next `up` finds it active."""
    home = tmp_path / "home"
    assert dsvmctl(home, "up", "lab").returncode == 0
    state = json.loads((home / "local-cloud" / "state.json").read_text())
    deployments = [b for b in state["resources"].values() if b["type"] == "Microsoft.Resources/deployments"]
    assert [d["properties"]["provisioningState"] for d in deployments] == ["Succeeded"]


def test_up_waits_for_an_active_deployment_of_its_own_then_converges(tmp_path):
    """An earlier `up` killed while its deployment ran: the next `up` waits for it, deploys again, exits 0."""
    from dsvmctl import Cloud, EnvironmentSpec

    home = tmp_path / "home"
    with Cloud.local(home=home) as cloud:
        cloud.up(EnvironmentSpec.from_dict({"name": "lab"}))
        emulator = cloud.backend.emulator
        with emulator.lock:
            emulator._load()
            record = next(b for b in emulator.resources.values() if b["type"] == "Microsoft.Resources/deployments")
            record["properties"]["provisioningState"] = "Running"  # as a process killed mid-deployment left it
            op = emulator.start_operation("microsoft.resources", "global", "deployments.run",
                                          deployment_id=record["id"])
            op.status = "Finalizing"
            emulator.save()
    result = dsvmctl(home, "up", "lab")
    assert result.returncode == 0, result.stderr
    assert "lab is running" in result.stdout


def test_down_of_a_machine_already_gone_says_so_and_exits_0(tmp_path):
    result = dsvmctl(tmp_path / "home", "down", "nothere", "--yes", "-o", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"name": "nothere", "deleted": [], "kept": [], "already_gone": True}
