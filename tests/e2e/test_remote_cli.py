"""Remote execution on the local cloud: push, run, stream, logs, collect, attach (library + CLI).

The local cloud's VM answers SSH from this process and runs commands in its sandbox, where its
disk is `/` and HOME is `/home/azureuser` (`<disk>/home/azureuser` here); DSVMCTL_REMOTE_PYTHON
points the run at this venv's Python (which has torch, read-only inside the sandbox). Windows machines are covered by command-building tests only: no Windows host.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from dsvmctl.cli import cli
from dsvmctl.cloud import workload
from dsvmctl.errors import CloudError, DsvmctlError
from dsvmctl.remote import HostKeyMismatch, windows
from dsvmctl.remote.channel import split_mark
from dsvmctl.remote.hostkeys import parse_public_key
from dsvmctl.remote.sync import push_windows
from dsvmctl.remote.target import PosixTarget, WindowsTarget

# The smallest cnn that still trains: a few ms per step, the torch import dominates.
TINY = ["--steps", "2", "--warmup", "1", "--compile", "off", "--batch-size", "8", "--image-size", "32",
        "--width", "8", "--blocks", "1,1"]


pytestmark = pytest.mark.usefixtures("remote_env")


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


# -- push -----------------------------------------------------------------------------------------


def test_push_bundled_workloads_then_repush_sends_nothing(cloud, lab, lab_home):
    result = invoke("push", "lab", "-o", "json")
    assert result.exit_code == 0, result.output
    first = json.loads(result.output)
    assert first["dest"] == "dsvmctl/workloads" and first["method"] == "tar"
    bundled = workload.bundled_workloads()
    pushed = lab_home / "dsvmctl" / "workloads"
    for name in ("train.py", "models.py", "data.py", "flops.py"):
        assert (pushed / name).read_bytes() == (bundled / name).read_bytes()
    assert not list(pushed.rglob("__pycache__"))
    assert first["files_sent"] == len([p for p in bundled.iterdir() if p.is_file()])

    again = json.loads(invoke("push", "lab", "-o", "json").output)
    assert again["files_sent"] == 0 and again["bytes_sent"] == 0 and again["method"] == "none"


def test_push_a_directory_of_ones_own_to_a_chosen_dest(cloud, lab, tmp_path, lab_home):
    src = tmp_path / "mine"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "a.txt").write_text("a")
    (src / "skip.log").write_text("x")
    (src / ".dsvmignore").write_text("*.log\n")
    result = invoke("push", "lab", str(src), "--dest", "projects/mine")
    assert result.exit_code == 0, result.output
    assert "pushed 2 files" in result.output  # a.txt and .dsvmignore, not skip.log
    remote = lab_home / "projects" / "mine"
    assert (remote / "sub" / "a.txt").read_text() == "a" and not (remote / "skip.log").exists()


# -- run, collect -------------------------------------------------------------------------------


def test_run_streams_then_collect_gets_cpu_metrics(cloud, lab, tmp_path, lab_home):
    started = time.monotonic()
    result = invoke("run", "lab", "--workload", "cnn", "--device", "cpu", "--", *TINY)
    assert result.exit_code == 0, result.output
    assert "step 3/3 loss" in result.output  # streamed live from the VM
    runs = workload.load_runs(lab)
    assert len(runs) == 1 and runs[0].exit_code == 0 and runs[0].workload == "cnn"
    run_id = runs[0].run_id
    local_log = Path(runs[0].log)
    assert local_log == workload.local_run_dir(lab, run_id) / "run.log"
    assert "step 3/3" in local_log.read_text() and "train.py: model=cnn" in local_log.read_text()
    assert (lab_home / "dsvmctl" / "runs" / run_id / "metrics.json").is_file()

    collected = json.loads(invoke("collect", "lab", "-o", "json").output)
    assert collected["run_id"] == run_id and collected["dir"] == str(local_log.parent)
    metrics = json.loads(Path(collected["metrics"]).read_text())
    assert metrics["device"] == "cpu" and metrics["model"] == "cnn" and metrics["steps"] == 2
    info = json.loads(Path(collected["run_json"]).read_text())
    assert info["device"] == "cpu" and info["size"] == "Standard_D4ds_v5" and info["exit_code"] == 0
    assert info["machine"] == "lab" and info["cloud"] == "local" and info["collected_at"]

    # --dest: the same files, somewhere else
    elsewhere = tmp_path / "results"
    again = lab.collect(run_id, elsewhere)
    assert {Path(p).name for p in again.files} >= {"metrics.json", "run.json", "run.log"}
    print(f"run + collect took {time.monotonic() - started:.1f} s")


# What `-o json` prints, runs.json and run.json hold: users' scripts read these keys.
PUSH_KEYS = {"dest", "files_sent", "bytes_sent", "deleted", "unchanged", "seconds", "method", "src", "machine"}
RUN_KEYS = {"run_id", "machine", "cloud", "workload", "device_requested", "args", "size", "started_at", "detached",
            "pid", "exit_code", "push", "python", "log", "finished_at"}
RUN_INFO_KEYS = {"run_id", "machine", "cloud", "size", "size_now", "workload", "device_requested", "device",
                 "device_name", "exit_code", "started_at", "finished_at", "collected_at", "args", "python"}
COLLECT_KEYS = RUN_INFO_KEYS | {"dir", "metrics", "run_json", "files", "fetch"}


def test_push_run_collect_json_documents_keep_their_keys(cloud, lab):
    pushed = invoke("push", "lab", "-o", "json")
    assert pushed.exit_code == 0, pushed.output
    assert set(json.loads(pushed.stdout)) == PUSH_KEYS

    ran = invoke("run", "lab", "--workload", "cnn", "--device", "cpu", "-o", "json", "--", *TINY)
    assert ran.exit_code == 0, ran.output
    document = json.loads(ran.stdout)  # the run's output went to stderr
    assert set(document) == RUN_KEYS
    assert set(document["push"]) == {"files_sent", "bytes_sent", "method"} and document["push"]["files_sent"] == 0
    assert (document["exit_code"], document["pid"], document["detached"]) == (0, None, False)
    on_disk = json.loads((cloud.store.dir("lab") / "runs.json").read_text())["runs"]
    assert on_disk == [document]  # runs.json keeps the same entry

    collected = invoke("collect", "lab", "-o", "json")
    assert collected.exit_code == 0, collected.output
    document = json.loads(collected.stdout)
    assert set(document) == COLLECT_KEYS
    assert set(document["fetch"]) == {"local_dir", "files", "bytes_received", "seconds"}
    assert set(json.loads(Path(document["run_json"]).read_text())) == RUN_INFO_KEYS
    on_disk = json.loads((cloud.store.dir("lab") / "runs.json").read_text())["runs"]
    assert set(on_disk[0]) == RUN_KEYS | {"collected_to"} and on_disk[0]["collected_to"] == document["dir"]

    detached = invoke("run", "lab", "--workload", "cnn", "--device", "cpu", "--detach", "-o", "json", "--", *TINY)
    assert detached.exit_code == 0, detached.output
    document = json.loads(detached.stdout)
    assert set(document) == RUN_KEYS - {"log", "finished_at"} and document["pid"] and document["detached"] is True
    followed = lab.logs(document["run_id"], follow=True, stdout=bytearray().extend)  # its RunRecord, updated
    assert followed.exit_code == 0 and followed.to_json() == {**document, "exit_code": 0}
    assert json.loads((cloud.store.dir("lab") / "runs.json").read_text())["runs"][-1] == followed.to_json()


def test_a_failing_remote_command_exit_code_is_ours(cloud, lab, tmp_path):
    src = tmp_path / "wl"
    src.mkdir()
    (src / "train.py").write_text("import sys\nprint('args', sys.argv[1:])\nsys.exit(7)\n")
    result = invoke("run", "lab", "--src", str(src), "--", "--steps", "1")
    assert result.exit_code == 7, result.output
    assert "--steps" in result.output and "exited with 7" in result.output
    assert workload.load_runs(lab)[-1].exit_code == 7
    # train.py's own refusal of bad arguments (exit 2) comes through too
    bundled = invoke("run", "lab", "--", "--steps", "-1")
    assert bundled.exit_code == 2 and "--steps must be >= 1" in bundled.output


def test_timeout_stops_the_remote_run(cloud, lab, tmp_path, lab_home):
    src = tmp_path / "wl"
    src.mkdir()
    (src / "train.py").write_text("import os, time\nopen('pid', 'w').write(str(os.getpid()))\n"
                                  "print('sleeping', flush=True)\ntime.sleep(60)\n")
    started = time.monotonic()
    result = invoke("run", "lab", "--src", str(src), "--timeout", "1.5")
    assert result.exit_code == 26 and "timed out" in result.output
    assert time.monotonic() - started < 20
    pid = int((lab_home / "dsvmctl" / "workloads" / "pid").read_text())
    deadline = time.monotonic() + 5
    while _alive(lab, pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(lab, pid)  # the remote process group was stopped (a local VM's processes are ours)


def _alive(lab, pid: int) -> bool:
    """Whether pid runs (and is no zombie) in the VM: asked inside it, where its pid namespace is."""
    import io

    probe = f"grep -q '^State:[[:space:]]*[^Z]' /proc/{pid}/status 2>/dev/null"
    return lab.exec(probe, stdout=io.BytesIO(), stderr=io.BytesIO()) == 0


def test_a_deallocated_vm_says_start_it_first(cloud, lab):
    lab.stop()
    for args in (("push", "lab"), ("run", "lab"), ("collect", "lab", "some-run")):
        result = invoke(*args)
        assert result.exit_code == 1, result.output
        assert "start it first" in result.output and "Traceback" not in result.output
    with pytest.raises(CloudError, match="start it first"):
        lab.push()


# -- detach, logs, collect ----------------------------------------------------------------------


def test_detach_then_logs_follow_then_collect(cloud, lab):
    entry = lab.run("cnn", "cpu", TINY, detach=True)
    assert entry.pid and entry.exit_code is None
    assert workload.load_runs(lab)[-1].pid == entry.pid
    # a new process would reattach the same way: through the record in the machine directory
    out = bytearray()
    followed = lab.logs(follow=True, stdout=out.extend)
    assert followed.run_id == entry.run_id and followed.exit_code == 0
    assert "step 3/3 loss" in out.decode()

    result = invoke("logs", "lab", entry.run_id[:17])  # a unique prefix will do
    assert result.exit_code == 0 and "step 3/3 loss" in result.output

    collected = lab.collect()
    assert collected.run_id == entry.run_id and collected.exit_code == 0
    assert collected.device == "cpu"
    assert "step 3/3" in (Path(collected.dir) / "run.log").read_text()


def test_logs_and_collect_without_runs_explain(cloud, lab):
    for args in (("logs", "lab"), ("collect", "lab")):
        result = invoke(*args)
        assert result.exit_code == 2 and "no run on record" in result.output


# -- the VM's python ------------------------------------------------------------------------------


def _fake_python(directory: Path, body: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name in ("python3", "python"):
        path = directory / name
        path.write_text(body)
        path.chmod(0o755)


def test_find_python_probes_for_torch(cloud, lab, tmp_path, monkeypatch, lab_home):
    monkeypatch.delenv(workload.PYTHON_ENV)
    with lab.session() as session:
        # A local VM's "image" puts dsvmctl's own environment (which has torch) first on PATH.
        assert Path(workload.find_python(session, lab)).parent == Path(sys.executable).parent

    disk = lab_home.parents[1]  # the VM's / (its commands see only their disk)
    bin_dir = disk / "opt" / "fakepy" / "bin"
    _fake_python(bin_dir, "#!/bin/sh\nexit 1\n")  # a python without torch
    from dsvmctl.cloud import localhosts

    monkeypatch.setattr(localhosts, "image_path", lambda: "/opt/fakepy/bin:/usr/bin:/bin")
    lab.stop()
    lab.start()  # its SSH server comes back with the patched image PATH
    with lab.session() as session:
        with pytest.raises(DsvmctlError) as err:
            workload.find_python(session, lab)
        assert "no Python with torch" in str(err.value) and "pip install torch" in str(err.value)
        assert "python3" in str(err.value)  # says what it tried
        _fake_python(bin_dir, f"#!/bin/sh\nexec {sys.executable} \"$@\"\n")
        assert workload.find_python(session, lab) == "/opt/fakepy/bin/python3"
        monkeypatch.setenv(workload.PYTHON_ENV, "/opt/custom/python")
        assert workload.find_python(session, lab) == "/opt/custom/python"  # the override wins, unprobed


# -- attach ---------------------------------------------------------------------------------------


def test_attach_an_existing_machine_then_exec_push_run_on_it(cloud, lab, tmp_path):
    host, port = lab.ssh_endpoint()  # starts the VM's SSH server in this process
    fingerprint = parse_public_key(lab.record.host_public_key).fingerprint

    wrong = "SHA256:" + "A" * 43
    with pytest.raises(HostKeyMismatch):
        workload.attach(cloud.store, "ext", host, port, "azureuser", lab.record.key_path, wrong)
    assert cloud.store.load("ext") is None

    result = invoke("attach", "ext", "--host", host, "--port", str(port), "--user", "azureuser",
                    "--identity", lab.record.key_path, "--host-key-fingerprint", fingerprint, "-o", "json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["attached"] and doc["os"] == "linux" and doc["ssh"]["host_key_fingerprint"] == fingerprint
    record = cloud.store.load("ext")
    assert record.attached and record.ssh_port == port
    assert parse_public_key(record.host_public_key).fingerprint == fingerprint  # the verified key is pinned

    ext = cloud.machine("ext")
    out = bytearray()
    assert ext.exec("echo hello from $HOME", stdout=out.extend) == 0
    assert out.decode().strip() == "hello from /home/azureuser"  # the VM's own view of its disk
    assert ext.push().files_sent > 0
    src = tmp_path / "wl"
    src.mkdir()
    (src / "train.py").write_text("import sys\nprint('ran', sys.argv[1:3])\n")
    assert ext.run("cnn", "cpu", [], src=src, stdout=out.extend).exit_code == 0
    assert "ran ['--model', 'cnn']" in out.decode()
    again = invoke("attach", "ext", "--host", host, "--user", "u", "--identity", lab.record.key_path,
                   "--host-key-fingerprint", fingerprint)
    assert again.exit_code == 2 and "already on record" in again.output


# -- Windows: command building only (no Windows host here) ----------------------------------------


WIN, POSIX = WindowsTarget(None), PosixTarget(None)  # builders only: no session needed


def test_windows_run_command_is_encoded_powershell_with_pid_and_exit_code():
    argv = WIN.argv("C:\\anaconda\\envs\\py38\\python.exe", "cnn", "cpu", "RID", ["--steps", "2", "it's"])
    line = WIN.run_command(argv, "RID")
    assert line.startswith(windows.POWERSHELL) and "-EncodedCommand" in line
    script = windows.decode_powershell(line)
    lines = script.splitlines()
    assert lines[1] == f"'{workload.KILL_MARK}' + $PID"  # first stdout line: the tree to stop
    assert "New-Item -ItemType Directory -Force -Path 'dsvmctl\\runs\\RID'" in script
    assert "Set-Location -LiteralPath 'dsvmctl\\workloads'" in script
    assert ("& 'C:\\anaconda\\envs\\py38\\python.exe' 'train.py' '--model' 'cnn' '--device' 'cpu' "
            "'--out' '..\\runs\\RID\\metrics.json' '--steps' '2' 'it''s'") in script
    assert lines[-1] == "exit $LASTEXITCODE"


def test_windows_detach_starts_a_hidden_process_that_records_its_exit_code():
    script = windows.decode_powershell(WIN.detach_command(WIN.argv("python", "transformer", "auto", "RID", []), "RID"))
    assert "Start-Process -FilePath 'powershell.exe' -WindowStyle Hidden -PassThru" in script
    assert "-RedirectStandardOutput (Join-Path $run 'run.log')" in script
    assert script.rstrip().endswith(f"'{workload.PID_MARK}' + $p.Id")
    inner_b64 = script.split("'-EncodedCommand', '", 1)[1].split("'", 1)[0]
    inner = windows.decode_powershell("x " + inner_b64)
    assert "& 'python' 'train.py' '--model' 'transformer' '--device' 'auto'" in inner
    assert "Set-Content -LiteralPath '..\\runs\\RID\\exit_code' -Value $LASTEXITCODE" in inner


def test_windows_logs_follow_polls_until_the_process_ends():
    follow = windows.decode_powershell(WIN.logs_command("RID", 4242, True))
    assert "$log = 'dsvmctl\\runs\\RID\\run.log'" in follow
    assert "Get-Process -Id 4242" in follow and "'ReadWrite'" in follow  # reads while the run writes
    once = windows.decode_powershell(WIN.logs_command("RID", 4242, False))
    assert "Get-Content -Raw -LiteralPath $log" in once and "Get-Process" not in once
    code = windows.decode_powershell(WIN.exit_code_command("RID"))
    assert "'dsvmctl\\runs\\RID\\exit_code'" in code


def test_windows_python_probe_tries_conda_envs_then_python():
    script = windows.decode_powershell(WIN.find_python_script())
    assert "env list" in script and "C:\\anaconda\\envs\\*\\python.exe" in script
    assert script.index("envs") < script.index("'python3', 'python'")
    assert "import torch" in script and workload.PYTHON_MARK in script


def test_windows_machines_get_the_windows_target_and_push_paths():
    class Record:
        os = "windows"

    class FakeMachine:
        record = Record()

    assert isinstance(workload.target(FakeMachine(), None), WindowsTarget)
    assert workload.remote_path(FakeMachine(), workload.RUNS_DIR, "RID") == "dsvmctl\\runs\\RID"
    Record.os = "linux"
    assert type(workload.target(FakeMachine(), None)) is PosixTarget
    # the pid line of a Windows foreground run is split off its stdout
    assert split_mark(b"dsvmctl-pid:77\r\nstep 1\n", b"dsvmctl-pid:") == (77, b"step 1\n")
    assert split_mark(b"step 1\n", b"dsvmctl-pid:") == (None, b"step 1\n")


def test_posix_commands_quote_arguments_and_detach_in_a_new_session():
    run = POSIX.run_command(POSIX.argv("/anaconda/envs/py310/bin/python", "cnn", "cpu", "RID", ["--x", "a b;rm"]), "RID")
    assert run.endswith("exec /anaconda/envs/py310/bin/python train.py --model cnn --device cpu "
                        "--out ../runs/RID/metrics.json --x 'a b;rm'")
    detach = POSIX.detach_command(POSIX.argv("python3", "cnn", "cpu", "RID", []), "RID")
    assert "nohup setsid sh -c" in detach and "> ../runs/RID/run.log 2>&1 < /dev/null &" in detach
    assert "--pid=99" in POSIX.logs_command("RID", 99, True)


class _FakeChannel:
    """Just enough of a paramiko channel for the Windows push/exec paths: canned output, exit code."""

    def __init__(self, command: str, out: bytes = b"", code: int = 0):
        self.command, self._out, self.code = command, out, code
        self.sent = bytearray()
        self.closed = False
        self.eof_received = True

    def sendall(self, data) -> None:
        self.sent += bytes(data)

    def shutdown_write(self) -> None:
        pass

    def recv_ready(self) -> bool:
        return bool(self._out)

    def recv(self, size: int) -> bytes:
        data, self._out = self._out[:size], self._out[size:]
        return data

    def recv_stderr_ready(self) -> bool:
        return False

    def exit_status_ready(self) -> bool:
        return True

    def recv_exit_status(self) -> int:
        return self.code

    def close(self) -> None:
        self.closed = True


class _FakeWindowsSession:
    class transport:  # noqa: N801 - stands in for paramiko's Transport
        @staticmethod
        def is_active() -> bool:
            return True

    def __init__(self, replies):
        self.replies = list(replies)  # (stdout, exit code) per command, in order
        self.channels: list[_FakeChannel] = []

    def open_exec(self, command: str) -> _FakeChannel:
        out, code = self.replies.pop(0) if self.replies else (b"", 0)
        self.channels.append(_FakeChannel(command, out, code))
        return self.channels[-1]


def test_windows_push_reads_the_manifest_stages_then_extracts_with_tar_exe(tmp_path):
    import io
    import tarfile

    src = tmp_path / "wl"
    src.mkdir()
    (src / "train.py").write_text("print('hi')\n")
    first = _FakeWindowsSession([(b"tar=1\r\n", 0)])
    summary = push_windows(first, src, "dsvmctl\\workloads", None)
    assert summary.files_sent == 1 and summary.method == "tar"
    probe, prepare, extract = first.channels
    assert "Get-Command tar.exe" in windows.decode_powershell(probe.command)
    assert "robocopy" in windows.decode_powershell(prepare.command) and prepare.sent == b""  # no deletions
    assert extract.command.startswith('tar.exe -x -f - -C "dsvmctl\\workloads.staging-')
    with tarfile.open(fileobj=io.BytesIO(bytes(extract.sent))) as archive:
        names = archive.getnames()
        manifest = archive.extractfile(".dsvmctl-manifest.json.new").read()
    assert names == ["train.py", ".dsvmctl-manifest.json.new"]

    # the VM now holds that manifest: nothing changed, so only the probe runs
    again = _FakeWindowsSession([(b"tar=1\r\n" + manifest, 0)])
    summary = push_windows(again, src, "dsvmctl\\workloads", None)
    assert summary.method == "none" and summary.files_sent == 0 and len(again.channels) == 1


def test_windows_exec_strips_the_pid_line_and_keeps_the_exit_code():
    session = _FakeWindowsSession([(b"dsvmctl-pid:4242\nstep 1/2\n", 3)])
    out = bytearray()
    assert WindowsTarget(session).exec("cmd", stdout=out.extend) == 3
    assert out == b"step 1/2\n"


def test_ctrl_c_stops_the_remote_run_and_is_recorded(cloud, lab, tmp_path, lab_home):
    src = tmp_path / "wl"
    src.mkdir()
    (src / "train.py").write_text("import os, time\nopen('pid', 'w').write(str(os.getpid()))\n"
                                  "print('started', flush=True)\ntime.sleep(60)\n")

    def interrupt_on_output(data: bytes) -> None:
        if b"started" in data:
            raise KeyboardInterrupt  # what Ctrl-C does while the output streams

    with pytest.raises(KeyboardInterrupt):
        lab.run("cnn", "cpu", [], src=src, stdout=interrupt_on_output)
    pid = int((lab_home / "dsvmctl" / "workloads" / "pid").read_text())
    deadline = time.monotonic() + 5
    while _alive(lab, pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(lab, pid)
    assert workload.load_runs(lab)[-1].stopped == "interrupted"


def test_the_earlier_builder_names_still_give_the_targets_scripts():
    # fleet runs compose their own scripts from these (cloud/distributed.py)
    assert workload.train_argv("cnn", "cpu", "RID", ["--x"]) == POSIX.argv("py", "cnn", "cpu", "RID", ["--x"])[1:]
    assert workload.train_argv("cnn", "cpu", "RID", [], windows=True)[-1] == "..\\runs\\RID\\metrics.json"
    assert workload.posix_logs_command("RID", 9, True) == POSIX.logs_command("RID", 9, True)
    with pytest.raises(DsvmctlError, match="is not a run id"):
        workload.posix_logs_command("x$(id)", None, False)
