"""The agent's life and its bad cases: restarts, stale sockets, SIGKILL mid-push, deallocation,
a taken port, a changed host key, idling out, and working without it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dsvmctl import Cloud, EnvironmentSpec
from dsvmctl.agent import client as agent_client
from dsvmctl.agent.client import find
from dsvmctl.errors import CloudError
from dsvmctl.remote import HostKeyMismatch, connect, sync

from .conftest import DSVMCTL, _alive, cli


def answers(port: int) -> bool:
    """Does an SSH server answer on 127.0.0.1:port?"""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            sock.settimeout(5)
            return sock.recv(4) == b"SSH-"
    except OSError:
        return False


def up_lab(home: Path):
    with Cloud.local(home) as cloud:
        cloud.up(EnvironmentSpec.from_dict({"name": "lab"}))
    return find(home).ping()["vms"][0]["port"]


def test_vm_answers_after_its_command_exits_and_comes_back_on_the_same_port_after_agent_restart(home):
    port = up_lab(home)
    assert answers(port)  # the library's Cloud is closed: the agent still hosts the VM
    cli("agent", "stop", check=True)
    assert not answers(port) and not (home / "agent.sock").exists()
    assert cli("exec", "lab", "--", "true").returncode == 0  # starts an agent, which brings the VM back
    assert answers(port)
    assert find(home).ping()["vms"][0]["port"] == port


def test_deallocate_stops_the_vm_answering_and_start_brings_it_back(home):
    port = up_lab(home)
    cli("stop", "lab", check=True)
    assert not answers(port)
    assert find(home).ping()["vms"] == []
    done = cli("exec", "lab", "--", "true")
    assert done.returncode != 0 and "deallocated" in done.stderr and "Traceback" not in done.stderr
    cli("start", "lab", check=True)
    port = find(home).ping()["vms"][0]["port"]
    assert answers(port)


def test_a_killed_agent_leaves_a_stale_socket_that_the_next_command_replaces(home):
    up_lab(home)
    old_pid = find(home).ping()["pid"]
    os.kill(old_pid, signal.SIGKILL)
    time.sleep(0.2)
    assert (home / "agent.sock").exists() and find(home) is None  # stale: nobody answers
    done = cli("exec", "lab", "--", "echo", "again")
    assert (done.returncode, done.stdout) == (0, "again\n"), done.stderr
    assert find(home).ping()["pid"] != old_pid


def test_agent_killed_mid_push_leaves_the_old_or_the_new_tree_and_the_next_push_completes(home, tmp_path):
    up_lab(home)
    src = tmp_path / "tree"
    for i in range(20):
        (src / f"d{i % 4}").mkdir(parents=True, exist_ok=True)
        (src / f"d{i % 4}" / f"f{i}.txt").write_text(f"v1 {i}\n")
    cli("push", "lab", str(src), "--dest", "proj", check=True)
    (disk,) = (home / "disks").iterdir()
    remote = disk / "home" / "azureuser" / "proj"
    old = {p.relative_to(remote): p.read_bytes() for p in remote.rglob("*.txt")}
    # v2: every small file changes, plus a big one, so the push takes a while.
    for i in range(20):
        (src / f"d{i % 4}" / f"f{i}.txt").write_text(f"v2 {i}\n")
    with open(src / "big.bin", "wb") as handle:
        handle.write(os.urandom(150 * 2**20))
    pid = find(home).ping()["pid"]
    push = subprocess.Popen([*DSVMCTL, "push", "lab", str(src), "--dest", "proj"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    time.sleep(0.4)
    os.kill(pid, signal.SIGKILL)
    out, err = push.communicate(timeout=60)
    if push.returncode != 0:  # it failed: cleanly, and the VM kept the whole old tree
        assert "Traceback" not in err and "push again" in err, err
    tree = {p.relative_to(remote): p.read_bytes() for p in remote.rglob("*.txt")}
    new = {p: f"v2 {p.stem[1:]}\n".encode() for p in old}
    assert tree in (old, new)
    if tree == old:
        assert not (remote / "big.bin").exists()
    done = cli("push", "lab", str(src), "--dest", "proj")
    assert done.returncode == 0, done.stderr
    assert {p.relative_to(remote): p.read_bytes() for p in remote.rglob("*.txt")} == new
    assert (remote / "big.bin").stat().st_size == 150 * 2**20
    assert find(home).ping()["pid"] != pid


def test_after_another_process_pushed_the_agent_push_is_up_to_date_and_later_edits_still_go(home):
    up_lab(home)
    src = home.parent / "tree"
    for i in range(30):
        (src / f"d{i % 3}").mkdir(parents=True, exist_ok=True)
        (src / f"d{i % 3}" / f"f{i}.txt").write_text(f"v1 {i:03d}\n")
    cli("push", "lab", str(src), "--dest", "proj", check=True)
    assert "up to date" in cli("push", "lab", str(src), "--dest", "proj", check=True).stdout
    agent_pid = find(home).ping()["pid"]
    # Another process (a library call, no agent) pushes an edit, with the same cache files.
    edited = src / "d0" / "f0.txt"
    edited.write_text("v2 000\n")  # same size
    record = json.loads((home / "machines" / "local" / "lab" / "machine.json").read_text())
    port = find(home).ping()["vms"][0]["port"]
    with connect("127.0.0.1", port, record["admin_user"], record["key_path"], host_key=record["host_public_key"]) as session:
        assert sync.push(session, src, "proj", cache_dir=home / "cache", confined=True).files_sent == 1
    # The agent plans against what that process left (its cache files, the VM): nothing to send.
    done = cli("push", "lab", str(src), "--dest", "proj", check=True)
    assert "up to date" in done.stdout, done.stdout
    assert find(home).ping()["pid"] == agent_pid
    # And a same-size edit or a mode change after its own unchanged push is still sent.
    edited.write_text("v3 000\n")
    stamp = edited.stat().st_mtime_ns + 10**9
    os.utime(edited, ns=(stamp, stamp))
    assert "pushed 1 files" in cli("push", "lab", str(src), "--dest", "proj", check=True).stdout
    (src / "d1" / "f1.txt").chmod(0o600)
    assert "pushed 1 files" in cli("push", "lab", str(src), "--dest", "proj", check=True).stdout
    (disk,) = (home / "disks").iterdir()
    remote = disk / "home" / record["admin_user"] / "proj"
    assert (remote / "d0" / "f0.txt").read_text() == "v3 000\n"
    assert (remote / "d1" / "f1.txt").stat().st_mode & 0o777 == 0o600


def test_a_port_taken_by_another_program_is_a_clear_error_not_a_hang(home):
    port = up_lab(home)
    cli("agent", "stop", check=True)
    squatter = socket.socket()
    squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    squatter.bind(("127.0.0.1", port))
    squatter.listen(1)
    try:
        started = time.monotonic()
        done = cli("exec", "lab", "--", "true", timeout=60)
        assert time.monotonic() - started < 30
        assert done.returncode == 1
        assert f"127.0.0.1:{port}, the SSH port of VM lab, is taken by another program" in done.stderr
        assert "dsvmctl stop lab && dsvmctl start lab" in done.stderr and "Traceback" not in done.stderr
    finally:
        squatter.close()
    assert cli("exec", "lab", "--", "true").returncode == 0  # freed: it answers again


def test_deallocating_ends_an_open_tunnel_with_a_message(home):
    up_lab(home)
    tunnel = subprocess.Popen([*DSVMCTL, "tunnel", "lab", "9"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        line = tunnel.stdout.readline()
        assert line.startswith("127.0.0.1:") and "-> lab:9" in line and "Ctrl-C" in line
        cli("stop", "lab", check=True)
        _, err = tunnel.communicate(timeout=30)
    finally:
        if tunnel.poll() is None:
            tunnel.kill()
    assert tunnel.returncode == 1
    assert "tunnel ended: VM lab was deallocated" in err


def test_a_changed_host_key_is_refused_by_the_agent_as_by_a_direct_connection(home, tmp_path):
    from dsvmctl.cloud.machines import generate_ed25519
    from dsvmctl.emulator.vmhost import LocalVMHost
    from dsvmctl.remote import connect

    host_private, _ = generate_ed25519("now")
    _, pinned_public = generate_ed25519("before")
    user_private, user_public = generate_ed25519("user")
    key = tmp_path / "id"
    key.write_text(user_private)
    key.chmod(0o600)
    with LocalVMHost(tmp_path / "disk", host_private, [user_public], "azureuser") as vm:
        with pytest.raises(HostKeyMismatch) as direct:
            connect("127.0.0.1", vm.port, "azureuser", key, host_key=pinned_public)
        target = {"name": "box", "host": "127.0.0.1", "port": vm.port, "user": "azureuser", "key_path": str(key),
                  "host_key": pinned_public}
        with pytest.raises(HostKeyMismatch) as via_agent:
            agent_client.ensure(home).exec(target, "true", stdout=lambda d: None, stderr=lambda d: None)
    assert str(via_agent.value) == str(direct.value)
    from dsvmctl.remote.hostkeys import parse_public_key

    assert parse_public_key(pinned_public).fingerprint in str(via_agent.value)
    assert str(via_agent.value).count("SHA256:") == 2


def test_the_agent_exits_when_idle_with_no_vm_running(home, monkeypatch):
    monkeypatch.setenv("DSVMCTL_AGENT_IDLE_S", "1")
    agent = agent_client.ensure(home)
    pid = agent.ping()["pid"]
    deadline = time.monotonic() + 20
    while find(home) is not None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert find(home) is None and not (home / "agent.sock").exists()
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(pid)


def test_library_exec_goes_through_the_agent_and_without_it_connects_directly(home, monkeypatch):
    with Cloud.local(home) as cloud:
        machine = cloud.up(EnvironmentSpec.from_dict({"name": "lab"}))
        out: list[bytes] = []
        assert machine.exec("echo via-agent", stdout=out.append) == 0
        assert b"".join(out) == b"via-agent\n"
        assert len(find(home).ping()["connections"]) == 1
    cli("agent", "stop", check=True)
    monkeypatch.setenv("DSVMCTL_AGENT", "off")
    with Cloud.local(home) as cloud:
        out.clear()
        assert cloud.machine("lab").exec("echo direct", stdout=out.append) == 0
        assert b"".join(out) == b"direct\n"
    assert find(home) is None  # nothing started one


def test_without_an_agent_that_can_start_commands_still_work(home, monkeypatch, tmp_path):
    # A Python that cannot run the agent: the command says so and hosts the VM itself.
    monkeypatch.setattr(agent_client, "START_TIMEOUT_S", 2.0)
    monkeypatch.setattr(agent_client, "agent_python", lambda: str(tmp_path / "no-such-python"))
    with Cloud.local(home) as cloud:
        machine = cloud.up(EnvironmentSpec.from_dict({"name": "lab"}))
        out: list[bytes] = []
        assert machine.exec("echo in-process", stdout=out.append) == 0
    assert b"".join(out) == b"in-process\n"
    assert find(home) is None


def test_without_the_agent_a_foreground_tunnel_runs_in_the_command_until_ctrl_c(home, monkeypatch):
    monkeypatch.setenv("DSVMCTL_AGENT", "off")
    with Cloud.local(home) as cloud:
        cloud.up(EnvironmentSpec.from_dict({"name": "lab"}))
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    tunnel = subprocess.Popen([*DSVMCTL, "tunnel", "lab", str(server.getsockname()[1])], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        line = tunnel.stdout.readline()
        local_port = int(line.split()[0].rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", local_port), timeout=10) as conn:
            accepted, _ = server.accept()
            conn.sendall(b"hello")
            assert accepted.recv(10) == b"hello"
            accepted.close()
        tunnel.send_signal(signal.SIGINT)
        _, err = tunnel.communicate(timeout=30)
    finally:
        server.close()
        if tunnel.poll() is None:
            tunnel.kill()
    assert tunnel.returncode == 0 and "tunnel closed" in err
    assert find(home) is None
