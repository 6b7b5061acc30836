"""(d) CLI arguments: any command line ends with a message and an exit code, never a traceback.

In-process with click's CliRunner for speed, plus a few real processes. The state directory is
a fresh temporary one, and only commands that cannot create VMs are generated (targets.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from click.testing import CliRunner
from hypothesis import given

from dsvmctl.cli import cli

from .conftest import budget
from .targets import check_cli, cli_arguments


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("cli-fuzz")


@pytest.fixture
def sandboxed(folder, monkeypatch):
    monkeypatch.setenv("DSVMCTL_HOME", str(folder / "state"))
    monkeypatch.delenv("DSVMCTL_CLOUD", raising=False)
    monkeypatch.chdir(folder)  # anything written to a relative path lands here
    return folder


@pytest.mark.slow
@budget(200)
@given(args=cli_arguments())
def test_any_command_line_ends_with_a_message_and_an_exit_code(sandboxed, args):
    check_cli(CliRunner(), cli, args, sandboxed)


@pytest.mark.parametrize("args", [["status", "x$(touch injected)"], ["validate", "--nope"], ["resize", "lab"],
                                  ["sizes", "-o", "yaml"], ["push", "lab", "/nonexistent", "--dest", "/"]])
def test_a_real_process_prints_a_message_and_no_traceback(sandboxed, args):
    env = dict(os.environ, DSVMCTL_HOME=str(sandboxed / "state"))
    done = subprocess.run([sys.executable, "-m", "dsvmctl", *args], capture_output=True, text=True, env=env,
                          cwd=sandboxed, timeout=60)
    assert done.returncode in (1, 2), (args, done.stderr)
    assert "Traceback" not in done.stderr and done.stderr.strip()
    assert not (sandboxed / "injected").exists()
