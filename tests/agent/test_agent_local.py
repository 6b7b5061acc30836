"""The agent on the local cloud: VMs answer between commands, OpenSSH tools work with the
pinned key, commands share one warm connection, tunnels, and who may use the agent."""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from dsvmctl.agent.client import AgentClient, find

from .conftest import cli, stop_agent

pytestmark = pytest.mark.skipif(not shutil.which("ssh"), reason="needs the OpenSSH client "
                                "(scripts/install-test-deps.sh installs it)")


@pytest.fixture(scope="module")
def lab_home(tmp_path_factory):
    """One lab made by `dsvmctl up` in a separate process, shared by the non-destructive tests."""
    base = tmp_path_factory.mktemp("agent-lab")
    home = base / "home"
    home.mkdir(mode=0o700)
    env = {**os.environ, "DSVMCTL_HOME": str(home), "DSVMCTL_AGENT": "auto", "XDG_CACHE_HOME": str(base / "cache")}
    done = subprocess.run([sys.executable, "-m", "dsvmctl", "up", "lab"], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    yield home
    stop_agent(home)


@pytest.fixture
def lab(lab_home, monkeypatch):
    monkeypatch.setenv("DSVMCTL_HOME", str(lab_home))
    monkeypatch.setenv("DSVMCTL_AGENT", "auto")
    monkeypatch.setenv("XDG_CACHE_HOME", str(lab_home.parent / "cache"))
    return lab_home


def vm_home(home: Path) -> Path:
    (disk,) = (home / "disks").iterdir()
    return disk / "home" / "azureuser"


def ssh_config(home: Path, name: str = "lab") -> Path:
    done = cli("ssh-config", name, check=True)
    path = home.parent / f"ssh_config.{name}"
    path.write_text(done.stdout)
    return path


def test_after_up_exits_plain_ssh_and_rsync_reach_the_vm_with_strict_host_key_checking(lab):
    config = ssh_config(lab)
    text = config.read_text()
    assert "StrictHostKeyChecking yes" in text and "UserKnownHostsFile" in text
    done = subprocess.run(["ssh", "-F", str(config), "-o", "BatchMode=yes", "lab", "true"], capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    src = lab.parent / "rsync-src"
    (src / "sub").mkdir(parents=True, exist_ok=True)
    (src / "sub" / "f.txt").write_text("over rsync\n")
    done = subprocess.run(["rsync", "-a", "-e", f"ssh -F {config} -o BatchMode=yes", f"{src}/", "lab:synced/"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert (vm_home(lab) / "synced" / "sub" / "f.txt").read_text() == "over rsync\n"


def test_ssh_refuses_a_vm_whose_key_is_not_the_pinned_one(lab):
    config = ssh_config(lab)
    known = lab / "known_hosts"
    saved = known.read_text()
    from dsvmctl.cloud.machines import generate_ed25519

    _, other_public = generate_ed25519("impostor")
    try:
        known.write_text(f"dsvmctl-local-lab {' '.join(other_public.split()[:2])}\n")
        done = subprocess.run(["ssh", "-F", str(config), "-o", "BatchMode=yes", "lab", "true"], capture_output=True,
                              text=True, timeout=30)
    finally:
        known.write_text(saved)
    assert done.returncode == 255
    assert "HOST IDENTIFICATION HAS CHANGED" in done.stderr or "Host key verification failed" in done.stderr


def test_ssh_print_gives_a_command_that_works_on_the_local_cloud(lab):
    done = cli("ssh", "lab", "--print", check=True)
    command = done.stdout.strip()
    assert "StrictHostKeyChecking=yes" in command and "only while" not in done.stderr
    ran = subprocess.run(command + " -o BatchMode=yes echo via-print", shell=True, capture_output=True, text=True,
                         timeout=30)
    assert ran.returncode == 0 and ran.stdout.strip() == "via-print", ran.stderr


def test_agent_status_json_lists_the_vm_its_connection_and_a_private_socket(lab):
    assert cli("exec", "lab", "--", "true").returncode == 0
    status = json.loads(cli("agent", "status", "-o", "json", check=True).stdout)
    assert status["running"] is True
    assert [vm["name"] for vm in status["vms"]] == ["lab"]
    assert any(c["port"] == status["vms"][0]["port"] and c["active"] for c in status["connections"])
    assert status["rss_kib"] > 0
    mode = os.stat(lab / "agent.sock").st_mode
    assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600
    assert stat.S_IMODE(os.stat(lab).st_mode) == 0o700
    assert (lab / "agent.log").is_file()


def test_exec_streams_output_and_returns_the_exit_code_through_the_agent(lab):
    done = cli("exec", "lab", "--", "sh", "-c", "echo out; echo err >&2; exit 7")
    assert (done.returncode, done.stdout, done.stderr) == (7, "out\n", "err\n")


HEAVY = ('paramiko', 'asyncssh', 'azure.core', 'cryptography', 'click')


@pytest.mark.parametrize("entry, argv, heavy", [
    ("dsvmctl.fastpath", ["exec", "lab", "--", "true"], HEAVY),  # the installed `dsvmctl` entry point
    ("dsvmctl.fastpath", ["push", "lab", "{src}", "--dest", "light"], HEAVY),
    ("dsvmctl.cli", ["exec", "lab", "--", "true"], HEAVY[:-1]),  # the click command, same route
])
def test_exec_and_push_through_the_agent_import_no_ssh_stack_in_the_cli_process(lab, tmp_path, entry, argv, heavy):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.txt").write_text("a")
    argv = [a.format(src=tmp_path / "src") for a in argv]
    code = (f"import sys\nfrom {entry} import main\nsys.argv = ['dsvmctl', *{argv!r}]\n"
            "try:\n    main()\nexcept SystemExit as exit:\n    code = exit.code\n"
            f"print(code, sorted(m for m in {heavy!r} if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip().splitlines()[-1] == "0 []", done.stdout + done.stderr


def test_two_commands_at_once_over_one_connection_both_work(lab):
    agent = find(lab)
    status = agent.ping()
    port = status["vms"][0]["port"]
    from dsvmctl.cloud.machines import MachineStore

    record = MachineStore(lab, "local").require("lab")
    target = {"name": "lab", "host": "127.0.0.1", "port": port, "user": record.admin_user,
              "key_path": record.key_path, "host_key": record.host_public_key}
    outputs: dict[int, bytes] = {}
    codes: dict[int, int] = {}

    def one(i: int) -> None:
        chunks: list[bytes] = []
        codes[i] = agent.exec(target, f"sleep 0.5; echo job{i}", stdout=chunks.append, stderr=lambda d: None)
        outputs[i] = b"".join(chunks)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(2)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert codes == {0: 0, 1: 0}
    assert outputs == {0: b"job0\n", 1: b"job1\n"}
    assert time.monotonic() - started < 5  # they ran side by side, not one after another
    connections = [c for c in agent.ping()["connections"] if c["port"] == port]
    assert len(connections) == 1


def test_another_users_process_cannot_use_the_socket(lab):
    if os.geteuid() != 0:
        pytest.skip("needs root to run a probe as another user")
    import pwd

    nobody = pwd.getpwnam("nobody")
    python = "/usr/bin/python3"  # stdlib is all the probe needs; the venv may sit where nobody cannot read
    if not os.access(python, os.X_OK):
        pytest.skip("needs /usr/bin/python3 to run the probe as nobody")
    probe = ("import socket, sys\ns = socket.socket(socket.AF_UNIX)\n"
             "try:\n    s.connect(sys.argv[1])\nexcept OSError as e:\n    print('refused', type(e).__name__); sys.exit()\n"
             "try:\n    s.sendall(b'J' + len(b'{\"op\":\"status\"}').to_bytes(4, 'big') + b'{\"op\":\"status\"}')\n"
             "    print('answer', s.recv(100))\n"
             "except OSError as e:\n    print('answer', type(e).__name__)\n")

    def as_nobody() -> str:
        def drop():
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)

        # The directory is handed over as an open fd: the test's parent directories are 0700,
        # and what is tested here is the state directory and the socket, not pytest's tmp root.
        fd = os.open(lab, os.O_RDONLY | os.O_DIRECTORY)
        try:
            done = subprocess.run([python, "-c", probe, f"/proc/self/fd/{fd}/agent.sock"], capture_output=True,
                                  text=True, timeout=30, preexec_fn=drop, cwd="/", pass_fds=(fd,))
        finally:
            os.close(fd)
        return done.stdout.strip() or done.stderr

    assert as_nobody() == "refused PermissionError"  # the directory (0700) and the socket (0600) keep it out
    # Even with the file permissions opened up, the agent checks the peer's uid and says nothing.
    os.chmod(lab, 0o755)
    os.chmod(lab / "agent.sock", 0o666)
    try:
        assert as_nobody() in ("answer b''", "answer ConnectionResetError", "answer BrokenPipeError")
    finally:
        os.chmod(lab / "agent.sock", 0o600)
        os.chmod(lab, 0o700)
    assert find(lab) is not None  # and it still serves its owner
    assert "refused a connection from uid %d" % nobody.pw_uid in (lab / "agent.log").read_text()


def test_the_client_refuses_a_socket_others_could_open(lab):
    os.chmod(lab / "agent.sock", 0o666)
    try:
        with pytest.raises(Exception, match="open to other users"):
            AgentClient(lab).connect()
    finally:
        os.chmod(lab / "agent.sock", 0o600)


def _echo_server() -> tuple[socket.socket, int]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                while data := conn.recv(1024):
                    conn.sendall(b"echo:" + data)

    threading.Thread(target=serve, daemon=True).start()
    return server, server.getsockname()[1]


def test_detached_tunnel_forwards_a_local_port_and_can_be_listed_and_closed(lab):
    server, remote_port = _echo_server()
    try:
        opened = json.loads(cli("tunnel", "lab", str(remote_port), "--detach", "-o", "json", check=True).stdout)
        with socket.create_connection(("127.0.0.1", opened["local_port"]), timeout=10) as conn:
            conn.sendall(b"ping")
            assert conn.recv(100) == b"echo:ping"
        listed = json.loads(cli("tunnel", "--list", "-o", "json", check=True).stdout)["tunnels"]
        assert [t["id"] for t in listed] == [opened["id"]]
        cli("tunnel", "--close", opened["id"], check=True)
        assert json.loads(cli("tunnel", "--list", "-o", "json", check=True).stdout)["tunnels"] == []
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", opened["local_port"]), timeout=5).close()
    finally:
        server.close()


def test_jupyter_on_a_local_vm_says_there_is_none_and_how_to_start_it(lab):
    done = cli("jupyter", "lab")
    assert done.returncode == 2
    assert "nothing serves Jupyter on lab" in done.stderr and "pip install jupyterlab" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_vm_forwards_only_to_its_own_loopback(lab):
    import paramiko

    from dsvmctl.cloud.machines import MachineStore
    from dsvmctl.remote import connect

    record = MachineStore(lab, "local").require("lab")
    port = find(lab).ping()["vms"][0]["port"]
    with connect("127.0.0.1", port, record.admin_user, record.key_path, host_key=record.host_public_key) as session:
        with pytest.raises(paramiko.ChannelException) as refused:
            session.transport.open_channel("direct-tcpip", ("192.0.2.1", 80), ("127.0.0.1", 0), timeout=10)
        assert refused.value.code == 1  # administratively prohibited


def test_jupyter_forwards_a_jupyter_that_listens_on_the_vm_and_prints_its_url(lab):
    import http.server

    class Hello(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the stdlib's name
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"jupyter here")

        def log_message(self, *args):
            pass

    try:
        server = http.server.HTTPServer(("127.0.0.1", 8888), Hello)
    except OSError:
        pytest.skip("port 8888 is busy on this machine")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        opened = json.loads(cli("jupyter", "lab", "--detach", "-o", "json", check=True).stdout)
        assert opened["remote_port"] == 8888 and opened["url"] == f"http://127.0.0.1:{opened['local_port']}/"
        import urllib.request

        assert urllib.request.urlopen(opened["url"], timeout=10).read() == b"jupyter here"
        cli("tunnel", "--close", opened["id"], check=True)
    finally:
        server.shutdown()
        server.server_close()


def _no_direct(*args, **kwargs):
    raise AssertionError("a direct SSH connection was opened while the agent was on")


def test_stdin_is_relayed_through_the_agent_byte_for_byte(lab, monkeypatch):
    import io

    from dsvmctl import Cloud, remote
    from dsvmctl.agent.session import AgentSession

    monkeypatch.setattr(remote, "connect", _no_direct)  # only the agent's connection may be used
    data = os.urandom(3 * 2**20 + 17)  # several windows of the relay, not a multiple of its chunk
    with Cloud.local() as cloud, cloud.machine("lab").session() as session:
        assert isinstance(session, AgentSession)
        out = io.BytesIO()
        assert session.exec("cat", stdout=out, stdin=data) == 0
        assert out.getvalue() == data
        assert session.run("wc -c", stdin=io.BytesIO(data)).out.split() == [str(len(data))]  # a binary file
        assert session.run("cat", stdin="héllo\n").out == "héllo\n"
        assert session.run("cat", stdin=b"").out == ""
        # A command that never reads its stdin ends; the relay does not hold it open.
        started = time.monotonic()
        assert session.exec("exit 3", stdin=io.BytesIO(b"x" * 32 * 2**20)) == 3
        assert time.monotonic() - started < 20
        head = io.BytesIO()  # one that stops reading early
        assert session.exec("head -c 5", stdout=head, stdin=data) == 0 and head.getvalue() == data[:5]
        assert session._direct is None


def test_collect_through_the_agent_writes_into_the_callers_relative_dest_on_the_warm_connection(lab, tmp_path):
    rid = "20260101T000000Z-a9e9f0"
    run_dir = vm_home(lab) / "dsvmctl" / "runs" / rid
    (run_dir / "sub").mkdir(parents=True, exist_ok=True)
    (run_dir / "metrics.json").write_text(json.dumps({"device": "cpu"}))
    (run_dir / "sub" / "big.bin").write_bytes(os.urandom(2 * 2**20))
    cwd = tmp_path / "caller"
    cwd.mkdir()
    first = json.loads(cli("collect", "lab", rid, "--dest", "got", "-o", "json", cwd=cwd, check=True).stdout)
    assert first["device"] == "cpu" and (cwd / "got" / "run.json").is_file()  # the caller's cwd, not the agent's
    assert (cwd / "got" / "sub" / "big.bin").read_bytes() == (run_dir / "sub" / "big.bin").read_bytes()
    handshakes = (lab / "agent.log").read_text().count("connected to lab")
    again = json.loads(cli("collect", "lab", rid, "--dest", "got", "-o", "json", cwd=cwd, check=True).stdout)
    assert again["fetch"]["files"] == 2
    assert (lab / "agent.log").read_text().count("connected to lab") == handshakes  # no new SSH connection
    missing = cli("collect", "lab", "20260101T000000Z-000000", "--dest", "none", cwd=cwd)
    assert missing.returncode == 2 and "left nothing on lab" in missing.stderr, missing.stderr  # RemotePathNotFound, re-raised
    from dsvmctl.errors import UsageError

    with pytest.raises(UsageError, match="only into an absolute directory"):  # the agent's cwd is not the caller's
        find(lab).fetch({}, [f"dsvmctl/runs/{rid}/."], "got", {})
