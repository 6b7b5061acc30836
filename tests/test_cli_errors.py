"""Every error reaches the user as a message and an exit code: never a traceback (--debug: one).

The refusals below are raised by the real code that refuses (nothing is faked); the CLI root
turns each into `error: ...` on stderr and the exit code of its kind.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile

import pytest
from click.testing import CliRunner

from dsvmctl import failures
from dsvmctl.cli import cli


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("DSVMCTL_HOME", str(tmp_path / "state"))
    return tmp_path / "state"


def _attached(home, **fields):
    record = {"name": "box", "cloud": "local", "resource_group": "", "location": "", "os": "linux",
              "admin_user": "u", "size": "", "gpu_size": None, "image": "",
              "host_public_key": "ssh-ed25519 AAAA!!!not-base64", "key_path": str(home / "k"),
              "attached": True, "ssh_host": "127.0.0.1", "ssh_port": 1, **fields}
    folder = home / "machines" / "local" / "box"
    folder.mkdir(parents=True)
    (folder / "machine.json").write_text(json.dumps(record))
    return folder / "machine.json"


def _raised(action):
    try:
        action()
    except Exception as err:  # noqa: BLE001 - the error under test
        return err
    raise AssertionError("nothing was raised")


def test_a_corrupt_pinned_host_key_is_a_clean_error_with_exit_22(home):
    _attached(home)
    result = CliRunner().invoke(cli, ["exec", "box", "--", "true"])
    assert result.exit_code == 22, result.output
    assert "error: public key is not valid base64" in result.output and "fix:" in result.output
    assert "Traceback" not in result.output


def test_a_damaged_machine_record_is_a_usage_error(home):
    _attached(home).write_text("{not json")
    result = CliRunner().invoke(cli, ["status", "box"])
    assert result.exit_code == 2 and "is damaged" in result.output and "Traceback" not in result.output


def test_a_refused_push_destination_is_exit_2_with_a_fix():
    from dsvmctl.remote.posix import DestPaths

    failure = failures.describe(_raised(lambda: DestPaths.of("/", "id")))
    assert failure.exit_code == 2 and "refusing to push onto" in failure.message
    assert "--dest projects/mine" in failure.message  # the fix: a destination that would be taken
    assert failure.report is None


def test_a_results_store_refusal_is_a_clean_error():
    from dsvmctl.bench.store import RunRecord

    err = _raised(lambda: RunRecord(comparison_id="c", machine="m", cloud="mars", size="s", size_is_gpu=False,
                                    workload="cnn", metrics=None, status="failed", error="x"))
    failure = failures.describe(err)
    assert failure.exit_code == 1 and "cloud must be one of" in failure.message and failure.report is None


def test_a_tar_member_refused_by_the_extraction_filter_is_exit_27(tmp_path):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        link = tarfile.TarInfo("escape")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        archive.addfile(link)
    buffer.seek(0)

    def extract():
        with tarfile.open(fileobj=buffer) as archive:
            archive.extractall(tmp_path / "out", filter="data")

    failure = failures.describe(_raised(extract))
    assert failure.exit_code == 27 and "refused to unpack" in failure.message
    assert not (tmp_path / "out" / "escape").exists()


def test_a_template_error_is_exit_2():
    from dsvmctl.arm.errors import TemplateError

    failure = failures.describe(TemplateError("InvalidTemplate", "no resources", "resources"))
    assert failure.exit_code == 2 and "InvalidTemplate" in failure.message


def test_an_unexpected_exception_prints_one_line_and_saves_a_report(home, monkeypatch):
    import dsvmctl.cloud.machines as machines

    def broken(self, name):
        raise RuntimeError("the disk\nfell off")

    monkeypatch.setattr(machines.MachineStore, "load", broken)
    result = CliRunner().invoke(cli, ["status", "box"])
    assert result.exit_code == failures.UNEXPECTED_EXIT_CODE
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: unexpected RuntimeError: the disk fell off")
    assert "run with --debug for the traceback" in lines[0] and "Traceback" not in result.output
    reports = list((home / "reports").iterdir())
    assert len(reports) == 1 and str(reports[0]) in lines[0]
    text = reports[0].read_text()
    assert "Traceback" in text and "RuntimeError: the disk" in text and "\ncommand: " in text
    assert oct(reports[0].stat().st_mode & 0o777) == "0o600"


def test_debug_shows_the_traceback(home, monkeypatch):
    import dsvmctl.cloud.machines as machines

    monkeypatch.setattr(machines.MachineStore, "load", lambda self, name: 1 / 0)
    result = CliRunner().invoke(cli, ["--debug", "status", "box"])
    assert isinstance(result.exception, ZeroDivisionError)  # not caught: Python prints its traceback
    assert not (home / "reports").exists()


def test_an_unwritable_state_directory_still_gets_the_report_somewhere(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("DSVMCTL_HOME", str(blocker / "state"))  # below a file: cannot be created
    failure = failures.describe(RuntimeError("boom"), ["dsvmctl", "x"])
    assert failure.report is not None and failure.report.exists() and str(failure.report) in failure.message
    failure.report.unlink()


def test_a_real_process_prints_no_traceback_for_a_damaged_record(home):
    _attached(home).write_text("[]")
    env = dict(os.environ, DSVMCTL_HOME=str(home))
    done = subprocess.run([sys.executable, "-m", "dsvmctl", "status", "box"], capture_output=True, text=True,
                          env=env, timeout=60)
    assert done.returncode == 2 and "error:" in done.stderr and "Traceback" not in done.stderr


# -- found by fuzzing (tests/fuzz) ------------------------------------------------------------------

def test_a_nul_character_in_a_path_argument_is_a_usage_error(home):
    result = CliRunner().invoke(cli, ["validate", "x", "\0"])
    assert result.exit_code == 2 and "NUL character" in result.output and "Traceback" not in result.output
    assert not (home / "reports").exists()


def test_a_path_too_long_for_the_file_system_is_a_usage_error(home):
    result = CliRunner().invoke(cli, ["validate", "a" * 300])
    assert result.exit_code == 2 and "too long" in result.output and not (home / "reports").exists()


@pytest.mark.parametrize("argv", [["sizes"], ["ssh-config"]])
def test_a_reader_that_goes_away_ends_the_command_quietly(home, argv):
    """`dsvmctl sizes | head -1`, or ssh's `-F <(dsvmctl ssh-config)` (ssh closes the pipe unread):
    the shell's 141 for a broken pipe, no error message, no crash report."""
    dsvmctl = [sys.executable, "-m", "dsvmctl", *argv]
    proc = subprocess.Popen(dsvmctl, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ})
    proc.stdout.close()  # before the command writes anything
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == failures.EXIT_BROKEN_PIPE
    assert b"error" not in err and b"Traceback" not in err, err
    assert not (home / "reports").exists() or not any((home / "reports").iterdir())
