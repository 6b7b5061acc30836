"""On the local cloud (DSVMCTL_HOME in a tmp dir): run ids and push destinations cannot run or
replace anything they should not.

- `dsvmctl logs lab 'x$(touch ...)'` runs nothing: the CLI refuses the id, and the remote layer
  given such an id anyway quotes it (checked against a marker path in the test's tmp dir).
- `push --dest` stays in the VM user's home unless --dest-absolute; a push onto a directory it
  did not create is refused and leaves it byte-for-byte intact.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from dsvmctl.cli import cli
from dsvmctl.remote.target import target_for


pytestmark = pytest.mark.usefixtures("remote_env")


@pytest.fixture
def home(lab_home) -> Path:
    return lab_home


@pytest.fixture
def src(tmp_path) -> Path:
    root = tmp_path / "src"
    root.mkdir()
    (root / "train.py").write_text("print('pushed')\n")
    return root


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


def snapshot(root: Path) -> dict[str, tuple]:
    """Every entry below root: kind, mode, mtime and content hash (or link target)."""
    found = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        if path.is_symlink():
            body = os.readlink(path)
        elif path.is_file():
            body = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            body = "dir"
        found[str(path.relative_to(root))] = (info.st_mode, info.st_mtime_ns, body)
    return found


# -- run ids ------------------------------------------------------------------------------------


def test_logs_with_a_shell_injection_run_id_runs_nothing(lab, home, tmp_path):
    marker = tmp_path / "injected"
    evil = f"x$(touch {marker})"
    result = invoke("logs", "lab", evil)
    assert result.exit_code == 2 and "is not a run id" in result.output and "Traceback" not in result.output
    assert not marker.exists()
    for command in ("collect", "logs"):
        assert invoke(command, "lab", f"x'; touch {marker}; echo '").exit_code == 2
    assert not marker.exists()


def test_the_remote_layer_quotes_even_an_id_that_slipped_past_validation(lab, home, tmp_path):
    marker = tmp_path / "injected"
    evil = f"x$(touch {marker})'`touch {marker}`"
    err = bytearray()
    with lab.session() as session:
        vm = target_for(session, "linux")
        assert vm.logs(evil, None, False, stderr=err.extend) == 4
        assert vm.exit_code(evil) is None
    assert err.decode() == f"no log for run {evil} on this VM\n"
    assert not marker.exists()


def test_a_run_id_prefix_still_finds_the_run(lab, tmp_path):
    src = tmp_path / "wl"
    src.mkdir()
    (src / "train.py").write_text("print('ran')\n")
    entry = lab.run("cnn", "cpu", [], src=src, stdout=bytearray().extend)
    out = bytearray()
    assert lab.logs(entry.run_id[:18], stdout=out.extend).run_id == entry.run_id
    assert b"ran" in out


# -- push --dest ------------------------------------------------------------------------------------


@pytest.mark.parametrize("dest, reason", [
    ("/tmp/elsewhere", "absolute"),
    ("~", "`~` alone"),
    ("..", "outside home"),
    ("../other-user", "outside home"),
    ("projects/../../x", "outside home"),
    ("~/../..", "outside home"),
    (".", "home itself"),
])
def test_push_dest_outside_home_is_refused_before_anything_changes(lab, home, src, dest, reason):
    before = snapshot(home.parent)
    result = invoke("push", "lab", str(src), "--dest", dest)
    assert result.exit_code == 2, result.output
    assert "refusing to push onto" in result.output and reason in result.output and "Traceback" not in result.output
    assert snapshot(home.parent) == before


def test_push_dest_home_relative_forms_are_accepted(lab, home, src):
    assert invoke("push", "lab", str(src), "--dest", "~/projects/a").exit_code == 0
    assert invoke("push", "lab", str(src), "--dest", "projects/b/").exit_code == 0
    assert (home / "projects" / "a" / "train.py").is_file() and (home / "projects" / "b" / "train.py").is_file()


def test_dest_absolute_allows_an_absolute_destination(lab, home, src):
    # /opt/tree inside the VM (outside its user's home) is <disk>/opt/tree on this machine
    inside, target = "/opt/tree", home.parent.parent / "opt" / "tree"
    refused = invoke("push", "lab", str(src), "--dest", inside)
    assert refused.exit_code == 2 and "--dest-absolute" in refused.output and not target.exists()
    done = invoke("push", "lab", str(src), "--dest", inside, "--dest-absolute")
    assert done.exit_code == 0, done.output
    assert (target / "train.py").read_text() == "print('pushed')\n"


def test_a_link_in_home_that_leads_outside_is_refused(lab, home, src):
    outside = home.parent.parent / "opt" / "outside"  # /opt/outside as the VM sees it
    outside.mkdir(parents=True)
    os.symlink("/opt/outside", home / "escape")
    result = invoke("push", "lab", str(src), "--dest", "escape/tree")
    assert result.exit_code == 2 and "resolves outside the VM user's home" in result.output, result.output
    assert list(outside.iterdir()) == []


def test_a_push_onto_a_foreign_directory_leaves_it_byte_for_byte_intact(lab, home, src):
    foreign = home / "projects" / "mine"
    (foreign / "data").mkdir(parents=True)
    (foreign / "data" / "table.csv").write_bytes(os.urandom(4096))
    (foreign / "notes.txt").write_text("my notes\n")
    (foreign / "run.sh").write_text("#!/bin/sh\n")
    (foreign / "run.sh").chmod(0o750)
    os.symlink("notes.txt", foreign / "link")
    before, siblings = snapshot(home), sorted(p.name for p in foreign.parent.iterdir())
    result = invoke("push", "lab", str(src), "--dest", "projects/mine")
    assert result.exit_code == 31, result.output
    assert "was not made by `dsvmctl push`" in result.output and "Traceback" not in result.output
    assert snapshot(home) == before and sorted(p.name for p in foreign.parent.iterdir()) == siblings

    # the home itself, reached as an absolute path with --dest-absolute, is refused the same way
    whole = invoke("push", "lab", str(src), "--dest", f"/home/{home.name}", "--dest-absolute")
    assert whole.exit_code == 31 and snapshot(home) == before


def test_repeated_pushes_to_dsvmctls_own_tree_still_work(lab, home, src):
    assert invoke("push", "lab", str(src), "--dest", "projects/ours").exit_code == 0
    (src / "train.py").write_text("print('v2')\n")
    again = invoke("push", "lab", str(src), "--dest", "projects/ours")
    assert again.exit_code == 0, again.output
    assert (home / "projects" / "ours" / "train.py").read_text() == "print('v2')\n"
    assert (home / "projects" / "ours").is_symlink()
