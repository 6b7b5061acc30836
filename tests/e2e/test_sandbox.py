"""The local cloud's VMs run sandboxed: one sandbox per running VM, which outlives the dsvmctl
process that started it and dies with deallocate; no sandbox, no boot (unless the user opts out).

Each test proves the sandbox with a harmless probe before relying on it (tests/remote/test_sandbox.py
has the destructive ones).
"""

from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner

from dsvmctl import Cloud, EnvironmentSpec
from dsvmctl.cli import cli
from dsvmctl.emulator import sandbox
from dsvmctl.emulator.sandbox import SandboxUnavailable


def _out(machine, command: str) -> str:
    out = bytearray()
    assert machine.exec(command, stdout=out.extend, stderr=out.extend) == 0, out.decode()
    return out.decode()


def _init_pid(cloud, machine) -> int | None:
    vm = cloud.backend.emulator.get(machine.vm().id)
    return cloud.backend.hosts.sandbox_of(cloud.backend.emulator, vm).pid


def _running(pid: int | None) -> bool:
    try:
        return pid is not None and open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] not in "ZX"
    except OSError:
        return False


def test_a_detached_process_survives_the_dsvmctl_process_and_dies_with_deallocate(tmp_path):
    state = tmp_path / "dsvmctl-home"
    with Cloud.local(home=state) as cloud:
        lab = cloud.up(EnvironmentSpec.from_dict({"name": "lab"}))
        assert _out(lab, "echo $HOME; test -e " + str(state) + " && echo STATE-VISIBLE; true").split() == ["/home/azureuser"]
        pid = int(_out(lab, "nohup setsid sleep 303 >/dev/null 2>&1 < /dev/null & echo $!").strip())
        init = _init_pid(cloud, lab)
    # That dsvmctl process is over (its SSH servers stopped); the VM and its processes live on.
    assert _running(init)
    with Cloud.local(home=state) as cloud:
        lab = cloud.machine("lab")
        assert _out(lab, f"kill -0 {pid} && tr '\\0' ' ' < /proc/{pid}/cmdline").strip() == "sleep 303"
        assert _init_pid(cloud, lab) == init  # found again, not made anew
        lab.stop()  # deallocate: every process of the VM ends
        assert not _running(init)
        lab.start()
        fresh = _init_pid(cloud, lab)
        assert fresh != init and _running(fresh)
        listing = _out(lab, "for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < $f; echo; done")
        assert "sleep 303" not in listing
        lab.down()
        assert not _running(fresh)


def test_run_command_scripts_run_in_the_vms_sandbox(cloud_home):
    with Cloud.local(home=cloud_home) as cloud:
        lab = cloud.up(EnvironmentSpec.from_dict({"name": "lab"}))
        poller = cloud.backend.compute.virtual_machines.begin_run_command(
            lab.record.resource_group, "lab", {"commandId": "RunShellScript",
                                               "script": [f"echo $HOME; test -e {cloud_home} || echo no-state"]})
        message = poller.result().value[0].message
        assert "/home/azureuser" in message and "no-state" in message


@pytest.fixture
def cloud_home(tmp_path):
    return tmp_path / "dsvmctl-home"


@pytest.fixture
def no_sandbox_tools(tmp_path, monkeypatch):
    """As on a machine with neither bubblewrap nor unshare (the probe finds no program)."""
    monkeypatch.setitem(sandbox.TOOLS, "bwrap", str(tmp_path / "missing" / "bwrap"))
    monkeypatch.setitem(sandbox.TOOLS, "unshare", str(tmp_path / "missing" / "unshare"))


def test_without_a_sandbox_up_refuses_to_boot_the_vm_and_says_what_to_do(no_sandbox_tools, monkeypatch):
    monkeypatch.delenv("DSVMCTL_UNSAFE_UNSANDBOXED", raising=False)
    result = CliRunner().invoke(cli, ["up", "lab"])
    assert result.exit_code == 1
    text = result.output
    assert "local VM lab cannot boot" in text and "bwrap" in text and "not found" in text
    assert "apt-get install bubblewrap" in text and "--unsafe-unsandboxed" in text
    assert "Traceback" not in text


def test_unsafe_unsandboxed_runs_the_vms_commands_on_this_machine(no_sandbox_tools, monkeypatch):
    monkeypatch.delenv("DSVMCTL_UNSAFE_UNSANDBOXED", raising=False)
    runner = CliRunner()
    assert runner.invoke(cli, ["--unsafe-unsandboxed", "up", "lab", "-o", "json"]).exit_code == 0
    disk_home = runner.invoke(cli, ["--unsafe-unsandboxed", "exec", "lab", "--", "sh", "-c", "echo $HOME"]).output.strip()
    assert disk_home.endswith("/home/azureuser") and disk_home != "/home/azureuser"  # the host's path
    monkeypatch.setenv("DSVMCTL_UNSAFE_UNSANDBOXED", "1")  # the same through the environment
    assert runner.invoke(cli, ["exec", "lab", "--", "sh", "-c", "echo $HOME"]).output.strip() == disk_home
    assert Cloud.local(unsafe_unsandboxed=False).backend.hosts.unsandboxed is False
    status = json.loads(runner.invoke(cli, ["down", "lab", "--yes", "-o", "json"]).output)
    assert status["deleted"]


def test_the_help_says_what_unsandboxed_means():
    text = CliRunner().invoke(cli, ["--help"]).output
    assert "--unsafe-unsandboxed" in text and "on your own machine as you" in text


def test_the_refusal_names_the_probes_error(no_sandbox_tools):
    with pytest.raises(SandboxUnavailable) as caught:
        sandbox.backend()
    assert os.fspath(sandbox.TOOLS["bwrap"]) in str(caught.value)
