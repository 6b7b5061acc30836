"""One state layout: `Cloud.local(home=tmp)` keeps every file it writes under tmp, and state
files are written whole, secrets 0600 from the start."""

from __future__ import annotations

import io
import os
import stat
import sys

import pytest

from dsvmctl import Cloud, EnvironmentSpec
from dsvmctl.cloud import workload
from dsvmctl.paths import StatePaths, write_atomic

TINY = ["--steps", "2", "--warmup", "1", "--compile", "off", "--batch-size", "8", "--image-size", "32",
        "--width", "8", "--blocks", "1,1"]


def every_file(root) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.mark.slow
def test_a_whole_flow_on_a_local_cloud_with_its_own_home_writes_nothing_outside_it(tmp_path, monkeypatch):
    user_home = tmp_path / "user-home"  # what ~ and the XDG directories point at: must stay empty
    user_home.mkdir()
    monkeypatch.delenv("DSVMCTL_HOME", raising=False)
    monkeypatch.setenv("HOME", str(user_home))
    for variable in ("XDG_CACHE_HOME", "XDG_STATE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME"):
        monkeypatch.setenv(variable, str(user_home / variable.lower()))
    monkeypatch.setenv(workload.PYTHON_ENV, sys.executable)
    home = tmp_path / "state"

    with Cloud.local(home=home) as cloud:
        machine = cloud.up(EnvironmentSpec.from_dict({"name": "lab"}))
        assert machine.paths == cloud.paths and machine.paths.root == home
        machine.push()
        run = machine.run("cnn", "cpu", TINY, stdout=io.BytesIO(), stderr=io.BytesIO())
        assert run.exit_code == 0
        machine.collect(run.run_id)
        machine.push()  # the second push reads the push cache the first one left
        machine.resize("Standard_D8ds_v5")
        machine.down()

    assert every_file(user_home) == []
    written = every_file(home)
    assert any(p.startswith("cache/push-state/") for p in written)  # the push cache is in the state root
    assert any(p.startswith(f"runs/{run.run_id}/") for p in written)


def test_the_state_root_is_made_private_again_on_every_start(tmp_path):
    root = tmp_path / "state"
    root.mkdir(mode=0o755)
    os.chmod(root, 0o755)
    StatePaths.of(root)
    assert stat.S_IMODE(root.stat().st_mode) == 0o700


def test_write_atomic_private_files_are_never_readable_by_others_and_replace_whole(tmp_path):
    path = tmp_path / "secret"
    write_atomic(path, "first", private=True)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and path.read_text() == "first"
    write_atomic(path, b"second", private=True)
    assert path.read_bytes() == b"second"
    write_atomic(tmp_path / "plain", "x")
    assert stat.S_IMODE((tmp_path / "plain").stat().st_mode) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain", "secret"]  # no temp file left


def test_write_atomic_leaves_the_old_file_when_the_write_fails(tmp_path):
    path = tmp_path / "state.json"
    write_atomic(path, "old")

    class Unwritable(str):
        def encode(self):
            raise OSError("disk full")

    with pytest.raises(OSError):
        write_atomic(path, Unwritable("new"))
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["state.json"]
