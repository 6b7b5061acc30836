"""A local VM's commands run in its sandbox: its disk as /, nothing else of the host writable or
visible beyond the system and Python directories, one PID namespace per VM.

Every destructive test first runs the harmless probe (`_prove_sandboxed`), and stops there if
the command could see the host: `rm -rf` or `kill -9 -1` never run unconfined. Each test runs
with both backends (bubblewrap, and util-linux unshare where bwrap is absent).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from dsvmctl.emulator import sandbox
from dsvmctl.emulator.sandbox import SandboxUnavailable
from dsvmctl.emulator.vmhost import LocalVMHost
from dsvmctl.remote import connect


@pytest.fixture(params=sandbox.BACKENDS)
def vm(request, keys, tmp_path, monkeypatch):
    monkeypatch.setenv(sandbox.BACKEND_ENV, request.param)
    try:
        sandbox.backend()
    except SandboxUnavailable as err:
        pytest.skip(f"{request.param} cannot make namespaces here: {err.message}")
    host = LocalVMHost(tmp_path / "vm-disk", keys.host.private_pem, [keys.client.public_line], "azureuser")
    host.start()
    yield host
    host.stop()


@pytest.fixture
def canaries(tmp_path) -> Path:
    """Host files outside the VM's disk: beside it, as the state directory and other disks are."""
    directory = tmp_path / "host-canaries"
    directory.mkdir()
    (directory / "canary.txt").write_text("still here")
    other_disk = tmp_path / "other-vm-disk" / "home" / "azureuser"
    other_disk.mkdir(parents=True)
    (other_disk / "data.txt").write_text("another VM's")
    return directory


def run(host: LocalVMHost, keys, command: str) -> tuple[int, str, str]:
    with connect("127.0.0.1", host.port, "azureuser", keys.client.private_path, host_key=keys.host.public_line,
                 timeout=10) as session:
        return session.run(command, timeout=60)


def _prove_sandboxed(host: LocalVMHost, keys, canaries: Path) -> None:
    """The harmless probe: host paths are not there, / is the disk, pid 1 is the VM's own init."""
    (host.disk_dir / "on-the-disk").write_text("disk")
    code, out, err = run(host, keys, f"""
        test -e {canaries}/canary.txt && echo HOST-CANARY-VISIBLE
        test -e {canaries.parent}/other-vm-disk && echo OTHER-DISK-VISIBLE
        cat /on-the-disk; echo
        tr '\\0\\n' '  ' < /proc/1/cmdline; echo
        ls /proc | grep -c '^[0-9]'
    """)
    assert code == 0, err
    lines = out.splitlines()
    assert "HOST-CANARY-VISIBLE" not in out and "OTHER-DISK-VISIBLE" not in out
    assert lines[0] == "disk"
    assert "sigwait" in lines[1], f"pid 1 is not the VM's init: {lines[1]!r}"
    assert int(lines[2]) < 20, "the VM sees the host's processes"


def test_the_vm_sees_its_disk_as_root_and_no_other_host_path(vm, keys, canaries):
    _prove_sandboxed(vm, keys, canaries)
    home = Path.home()
    code, out, _ = run(vm, keys, f"ls -A {home} 2>/dev/null; echo ---; ls -A /")
    inside_home, root = out.split("---\n")
    # What is left of the host's home is only the way to dsvmctl's Python (e.g. ~/.pyenv).
    python_ways = {Path(p).relative_to(home).parts[0] for p in sandbox.python_paths() if Path(p).is_relative_to(home)}
    assert set(inside_home.split()) <= python_ways
    assert {"home", "tmp", "var", "opt", "usr", "proc", "dev", "on-the-disk"} <= set(root.split())


def test_system_and_python_directories_are_read_only(vm, keys, canaries):
    _prove_sandboxed(vm, keys, canaries)
    target = Path(sys.prefix) / f"written-by-vm-{uuid.uuid4().hex[:6]}"
    code, out, err = run(vm, keys, f"touch {target} /usr/written-by-vm 2>&1; "
                                   f"{sys.executable} -c 'import torch, dsvmctl; print(torch.__name__)'")
    assert "Read-only file system" in out
    assert not target.exists() and not Path("/usr/written-by-vm").exists()
    assert out.strip().endswith("torch"), err  # the VM's Python imports torch from dsvmctl's environment


def test_rm_rf_home_and_tmp_inside_the_vm_leaves_the_host_untouched(vm, keys, canaries):
    _prove_sandboxed(vm, keys, canaries)  # only then the destructive command
    (vm.home / "work.txt").write_text("the VM's own file")
    (vm.disk_dir / "tmp" / "scratch").write_text("the VM's /tmp")
    code, out, err = run(vm, keys, f"rm -rf ~/ /tmp/* {canaries} {canaries.parent}/other-vm-disk 2>&1;"
                                   f" rm -rf /usr/bin/true {sys.prefix} 2>&1; echo ran")
    assert out.strip().endswith("ran")
    assert not (vm.home / "work.txt").exists() and not (vm.disk_dir / "tmp" / "scratch").exists()  # it did run
    assert (canaries / "canary.txt").read_text() == "still here"
    assert (canaries.parent / "other-vm-disk" / "home" / "azureuser" / "data.txt").exists()
    assert Path("/usr/bin/true").exists() and Path(sys.executable).exists()


def test_kill_minus_one_inside_the_vm_kills_only_the_vms_processes(vm, keys, canaries):
    marker = f"host-canary-{uuid.uuid4().hex[:8]}"
    canary = subprocess.Popen(["sh", "-c", f"sleep 300; : {marker}"])
    try:
        _prove_sandboxed(vm, keys, canaries)
        pattern = f"[{marker[0]}]{marker[1:]}"  # a regex that does not match its own grep
        code, out, _ = run(vm, keys, f"grep -l '{pattern}' /proc/[0-9]*/cmdline 2>/dev/null | wc -l")
        host_side = subprocess.run(["sh", "-c", f"grep -l '{pattern}' /proc/[0-9]*/cmdline 2>/dev/null | wc -l"],
                                   capture_output=True, text=True).stdout
        assert host_side.strip() != "0"  # the probe can see the canary where it is visible
        assert out.strip() == "0"  # the canary is out of the VM's sight: a pid namespace of its own
        code, out, _ = run(vm, keys, "nohup setsid sleep 301 >/dev/null 2>&1 < /dev/null & sleep 0.2; "
                                     "kill -9 -1; echo survived")
        assert "survived" in out
        assert canary.poll() is None, "kill -9 -1 inside the VM reached a host process"
        assert _count(vm, keys, "sleep 301") == 0  # the VM's own processes did die
    finally:
        canary.kill()
        canary.wait()


def _count(host, keys, cmdline: str) -> int:
    """How many processes of the VM have exactly this command line."""
    code, out, _ = run(host, keys, "for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < $f 2>/dev/null; echo; done")
    return sum(1 for line in out.splitlines() if line.strip() == cmdline)


def test_a_detached_process_outlives_its_session_is_seen_by_the_next_and_dies_at_power_off(vm, keys):
    code, out, _ = run(vm, keys, "nohup setsid sleep 302 >/dev/null 2>&1 < /dev/null & echo $!")
    pid = int(out.strip())
    time.sleep(0.2)  # the first SSH session is closed by now
    assert run(vm, keys, f"kill -0 {pid} && echo alive")[1].strip() == "alive"
    assert _count(vm, keys, "sleep 302") == 1
    init = vm.sandbox.pid
    vm.stop()
    assert not os.path.exists(f"/proc/{init}") or _zombie(init)
    vm.start()
    assert _count(vm, keys, "sleep 302") == 0  # a start boots a fresh sandbox


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_the_init_holds_none_of_dsvmctls_environment(vm, keys, monkeypatch):
    monkeypatch.setenv("AZURE_CLIENT_SECRET", "planted-secret")  # before the sandbox is made (lazily)
    code, out, _ = run(vm, keys, "tr '\\0' '\\n' < /proc/1/environ")
    names = {line.split("=", 1)[0] for line in out.splitlines() if line}
    assert "PATH" in names and names <= {"PATH", "LANG", "PWD"}
    assert "planted-secret" not in out


def test_a_link_left_on_the_disk_cannot_steer_a_mount_outside_it(keys, tmp_path, canaries):
    disk = tmp_path / "linked-disk"
    disk.mkdir()
    (disk / "usr").symlink_to(canaries)  # as if the VM had left /usr -> a host directory
    host = LocalVMHost(disk, keys.host.private_pem, [keys.client.public_line], "azureuser")
    host.start()
    try:
        code, out, _ = run(host, keys, "ls /usr | head -3; test -e /usr/bin/sh && echo system-usr")
        assert "system-usr" in out
    finally:
        host.stop()
    assert sorted(os.listdir(canaries)) == ["canary.txt"]  # nothing was made in the link's target
    assert (disk / "usr").is_dir() and not (disk / "usr").is_symlink()


def test_without_bwrap_or_unshare_a_vm_does_not_power_on_and_says_why(keys, tmp_path, monkeypatch):
    monkeypatch.setitem(sandbox.TOOLS, "bwrap", str(tmp_path / "no-such" / "bwrap"))
    monkeypatch.setitem(sandbox.TOOLS, "unshare", str(tmp_path / "no-such" / "unshare"))
    host = LocalVMHost(tmp_path / "disk", keys.host.private_pem, [keys.client.public_line], "azureuser")
    with pytest.raises(SandboxUnavailable) as caught:
        host.start()
    message = str(caught.value)
    assert "bwrap: " in message and "unshare: " in message and "not found" in message
    assert "apt-get install bubblewrap" in message and "--unsafe-unsandboxed" in message
    assert not host.running


def test_an_unknown_backend_choice_is_refused(monkeypatch):
    monkeypatch.setenv(sandbox.BACKEND_ENV, "docker")
    with pytest.raises(SandboxUnavailable, match="not a sandbox backend"):
        sandbox.backend()
