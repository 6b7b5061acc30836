"""LocalVMHost: the SSH server behind an emulated VM (power, disk, keys, sessions, SFTP)."""

from __future__ import annotations

import os
import shutil
import threading
import time

import paramiko
import pytest

from dsvmctl.emulator.vmhost import LocalVMHost
from dsvmctl.remote import AuthError, HostKeyMismatch, HostUnreachable, connect, push
from remote_helpers import make_tree


def _connect(host: LocalVMHost, keys, **options):
    options.setdefault("host_key", keys.host.public_line)
    return connect("127.0.0.1", host.port, "azureuser", options.pop("key", keys.client.private_path), timeout=5, **options)


def test_starts_in_well_under_200_ms(fresh_host):
    started = time.perf_counter()
    port = fresh_host.start()
    elapsed = time.perf_counter() - started
    assert port > 0 and fresh_host.running
    assert elapsed < 0.2, f"start took {elapsed * 1000:.0f} ms"


def test_home_is_created_on_the_disk_and_commands_run_there(fresh_host, keys):
    fresh_host.start()
    with _connect(fresh_host, keys) as session:
        code, out, _ = session.run('pwd; echo "$HOME"; echo "$USER"; echo made-here > here.txt')
    assert code == 0 and out.splitlines() == ["/home/azureuser", "/home/azureuser", "azureuser"]
    assert (fresh_host.disk_dir / "home" / "azureuser" / "here.txt").read_text() == "made-here\n"


def test_disk_survives_stop_and_start_on_the_same_port(fresh_host, keys):
    port = fresh_host.start()
    with _connect(fresh_host, keys) as session:
        session.run("echo kept > state.txt")
    fresh_host.stop()
    assert not fresh_host.running
    assert fresh_host.start() == port
    with _connect(fresh_host, keys) as session:
        assert session.run("cat state.txt").out == "kept\n"


def test_a_stopped_host_does_not_answer_ssh(fresh_host, keys):
    fresh_host.start()
    fresh_host.stop()
    started = time.monotonic()
    with pytest.raises(HostUnreachable):
        _connect(fresh_host, keys, retries=0)
    assert time.monotonic() - started < 1


def test_stopping_drops_sessions_and_kills_their_commands(fresh_host, keys):
    fresh_host.start()
    session = _connect(fresh_host, keys)
    pid_file = fresh_host.home / "pid"
    runner = threading.Thread(target=lambda: _swallow(session.run, "echo $$ > pid; sleep 60"), daemon=True)
    runner.start()
    deadline = time.monotonic() + 5
    while not (pid_file.exists() and pid_file.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.02)
    vm_pids = _pids_in_namespace_of(fresh_host.sandbox.pid)
    assert len(vm_pids) >= 2  # the init and the command
    fresh_host.stop()
    runner.join(timeout=5)
    assert not [pid for pid in vm_pids if _running(pid)]


def _running(pid: int) -> bool:
    """Alive, not a zombie waiting for its parent outside the VM to reap it."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def _pids_in_namespace_of(pid: int) -> list[int]:
    """Host pids of every process in the PID namespace of `pid`."""
    namespace = os.stat(f"/proc/{pid}/ns/pid").st_ino
    found = []
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and os.stat(f"/proc/{entry}/ns/pid").st_ino == namespace:
                found.append(int(entry))
        except OSError:
            continue
    return found


def _swallow(func, *args):
    try:
        func(*args)
    except Exception:  # noqa: BLE001 - the session is expected to die with the host
        pass


def test_server_killed_mid_push_then_restarted_the_tree_is_whole(fresh_host, keys, tmp_path):
    fresh_host.start()
    src = make_tree(tmp_path / "src", {"a.txt": "a", "big.bin": os.urandom(2_000_000)})
    with _connect(fresh_host, keys) as session:
        push(session, src, "w/tree")
    before = (fresh_host.home / "w" / "tree" / "big.bin").read_bytes()
    (src / "big.bin").write_bytes(os.urandom(8_000_000))
    session = _connect(fresh_host, keys)

    def power_off(sent: int) -> None:
        if sent > 2_000_000 and fresh_host.running:
            threading.Thread(target=fresh_host.stop).start()

    with pytest.raises(Exception):
        push(session, src, "w/tree", progress=power_off)
    session.close()
    deadline = time.monotonic() + 5
    while fresh_host.running and time.monotonic() < deadline:
        time.sleep(0.02)
    assert (fresh_host.home / "w" / "tree" / "big.bin").read_bytes() == before
    fresh_host.start()
    with _connect(fresh_host, keys) as session:
        push(session, src, "w/tree")
    assert (fresh_host.home / "w" / "tree" / "big.bin").read_bytes() == (src / "big.bin").read_bytes()


def test_only_the_authorized_key_for_the_admin_user_is_accepted(vmhost, keys):
    with pytest.raises(AuthError):
        _connect(vmhost, keys, key=keys.other.private_path)
    with pytest.raises(AuthError):
        connect("127.0.0.1", vmhost.port, "root", keys.client.private_path, host_key=keys.host.public_line)


def test_passwords_are_not_offered(vmhost):
    transport = paramiko.Transport(("127.0.0.1", vmhost.port))
    try:
        transport.start_client(timeout=5)
        with pytest.raises(paramiko.BadAuthenticationType) as caught:
            transport.auth_password("azureuser", "secret")
        assert caught.value.allowed_types == ["publickey"]
    finally:
        transport.close()


def test_presents_exactly_the_given_host_key(vmhost, keys):
    with pytest.raises(HostKeyMismatch):
        _connect(vmhost, keys, host_key=keys.other.public_line)
    transport = paramiko.Transport(("127.0.0.1", vmhost.port))
    try:
        transport.start_client(timeout=5)
        presented = transport.get_remote_server_key()
        assert f"{presented.get_name()} {presented.get_base64()}" == " ".join(keys.host.public_line.split()[:2])
    finally:
        transport.close()


def test_concurrent_connections_are_served(vmhost, keys):
    outputs: list[str] = []

    def one(i: int) -> None:
        with _connect(vmhost, keys) as session:
            outputs.append(session.run(f"sleep 0.2; echo {i}").out.strip())

    threads = [threading.Thread(target=one, args=(i,)) for i in range(10)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outputs, key=int) == [str(i) for i in range(10)]
    assert time.monotonic() - started < 5


def test_signal_request_reaches_the_process_group(vmhost, keys):
    with _connect(vmhost, keys) as session:
        channel = session.transport.open_session()
        channel.exec_command("trap 'echo got-term; exit 7' TERM; echo ready; while :; do sleep 0.05; done")
        assert channel.recv(100).startswith(b"ready")
        message = paramiko.Message()
        message.add_byte(bytes([paramiko.common.cMSG_CHANNEL_REQUEST[0]]))
        message.add_int(channel.remote_chanid)
        message.add_string("signal")
        message.add_boolean(False)
        message.add_string("TERM")
        session.transport._send_user_message(message)
        assert channel.recv_exit_status() == 7
        assert b"got-term" in channel.recv(100)


def test_sftp_is_rooted_at_the_disk_with_relative_paths_in_home(vmhost, keys):
    with _connect(vmhost, keys) as session:
        sftp = session.sftp()
        assert sftp.normalize(".") == "/home/azureuser"
        with sftp.open("from-sftp.txt", "w") as handle:
            handle.write("hello")
        assert (vmhost.home / "from-sftp.txt").read_text() == "hello"
        assert sftp.stat("/home/azureuser/from-sftp.txt").st_size == 5
        assert "home" in sftp.listdir("/")
        with pytest.raises(IOError):
            sftp.stat("/../../etc/passwd-not-on-disk")


def test_a_vm_without_tar_gets_the_tree_over_sftp(fresh_host, keys, tmp_path):
    tools = fresh_host.disk_dir / "opt" / "notar" / "bin"  # /opt/notar/bin on the VM
    tools.mkdir(parents=True)
    for tool in ("sh", "bash", "cat", "cp", "mv", "ln", "rm", "mkdir", "readlink", "xargs", "head"):
        found = shutil.which(tool)
        if found:
            (tools / tool).symlink_to(os.path.realpath(found))  # the host's, read-only in the VM
    fresh_host.path = "/opt/notar/bin"  # what the VM's commands see
    fresh_host.start()
    src = make_tree(tmp_path / "src", {"a.txt": "a", "d/b.txt": "b"})
    with _connect(fresh_host, keys) as session:
        assert session.run("command -v tar").code != 0
        summary = push(session, src, "w/tree")
    assert summary.method == "sftp"
    assert (fresh_host.home / "w" / "tree" / "d" / "b.txt").read_text() == "b"
