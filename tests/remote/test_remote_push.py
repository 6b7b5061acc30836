"""push and fetch against both SSH servers: incremental, mirrored, atomic, resumable."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from dsvmctl.remote import RemoteDiskFull, RemotePathNotFound, SessionClosed, TransferError, fetch, push
from remote_helpers import make_tree, tree_snapshot

TREE = {
    "train.py": "print('train')\n",
    "pkg/__init__.py": "",
    "pkg/model.py": "W = 1\n" * 100,
    "pkg/data/blob.bin": os.urandom(300_000),
    "notes.log": "ignored\n",
    "cache/x.pyc": "ignored",
    ".dsvmignore": "*.log\ncache/\n",
}


@pytest.fixture
def src(tmp_path) -> Path:
    root = make_tree(tmp_path / "src", TREE)
    (root / "run.sh").write_text("#!/bin/sh\necho run\n")
    (root / "run.sh").chmod(0o755)
    (root / "empty").mkdir()
    os.symlink("pkg/model.py", root / "model-link.py")
    return root


def expected_snapshot(src: Path) -> dict:
    return {k: v for k, v in tree_snapshot(src).items() if not k.endswith(".log") and not k.startswith("cache")}


def test_first_push_mirrors_the_tree_without_ignored_files(server, src):
    remote, local = server.area()
    with server.connect() as session:
        summary = push(session, src, remote)
    assert tree_snapshot(local) == expected_snapshot(src)
    assert os.access(local / "run.sh", os.X_OK)
    assert summary.method == "tar" and summary.files_sent == 6 and summary.deleted == 0


def test_unchanged_re_push_sends_nothing(server, src):
    remote, _ = server.area()
    with server.connect() as session:
        push(session, src, remote)
        again = push(session, src, remote)
    assert (again.files_sent, again.bytes_sent, again.deleted, again.method) == (0, 0, 0, "none")


def test_changes_and_deletions_are_mirrored_and_remote_only_files_kept(server, src):
    remote, local = server.area()
    with server.connect() as session:
        push(session, src, remote)
        (local / "outputs").mkdir()
        (local / "outputs" / "metrics.json").write_text("{}")  # written by a run on the VM
        (src / "pkg" / "model.py").write_text("W = 2\n")
        (src / "pkg" / "data" / "blob.bin").unlink()
        (src / "new.txt").write_text("new")
        summary = push(session, src, remote)
    assert (summary.files_sent, summary.deleted) == (2, 1)
    result = tree_snapshot(local)
    assert result.pop("outputs/metrics.json") == b"{}" and result.pop("outputs") == "dir"
    assert result == expected_snapshot(src)


def test_sftp_fallback_gives_the_same_tree(server, src):
    remote, local = server.area()
    with server.connect() as session:
        first = push(session, src, remote, method="sftp")
        (src / "train.py").write_text("print('v2')\n")
        (src / "pkg" / "__init__.py").unlink()
        second = push(session, src, remote, method="sftp")
    assert first.method == second.method == "sftp"
    assert tree_snapshot(local) == expected_snapshot(src)


def test_push_switches_atomically_and_keeps_no_old_generation(server, src):
    remote, local = server.area()
    with server.connect() as session:
        push(session, src, remote)
        first_target = os.readlink(local)
        (src / "train.py").write_text("v2")
        push(session, src, remote)
    assert local.is_symlink() and os.readlink(local) != first_target
    siblings = sorted(p.name for p in local.parent.iterdir() if p.name.startswith(local.name))
    assert siblings == [local.name, os.readlink(local)]


def test_interrupted_push_leaves_the_old_tree_whole_and_the_next_push_completes(server, src):
    remote, local = server.area()
    with server.connect() as session:
        push(session, src, remote)
        before = tree_snapshot(local)
        (src / "pkg" / "data" / "blob.bin").write_bytes(os.urandom(3_000_000))
        (src / "train.py").write_text("print('v2')\n")

        def cut(sent: int) -> None:
            if sent > 1_000_000:
                raise RuntimeError("link dropped")

        with pytest.raises(RuntimeError, match="link dropped"):
            push(session, src, remote, progress=cut)
        assert tree_snapshot(local) == before  # old tree intact (hard links not written through)
        summary = push(session, src, remote)
    assert summary.files_sent == 2
    assert tree_snapshot(local) == expected_snapshot(src)
    assert not [p for p in local.parent.iterdir() if ".staging-" in p.name]


def test_connection_cut_mid_push_is_reported_and_the_next_push_resumes(server, src):
    remote, local = server.area()
    with server.connect() as session:
        push(session, src, remote)
    before = tree_snapshot(local)
    (src / "pkg" / "data" / "blob.bin").write_bytes(os.urandom(4_000_000))
    session = server.connect()

    def cut(sent: int) -> None:
        if sent > 1_000_000:
            session.transport.sock.shutdown(2)  # the network goes away under the transfer

    with pytest.raises((SessionClosed, TransferError, OSError, EOFError)):
        push(session, src, remote, progress=cut)
    session.close()
    assert tree_snapshot(local) == before
    with server.connect() as session:
        push(session, src, remote)
    assert tree_snapshot(local) == expected_snapshot(src)


def test_stale_staging_from_a_killed_push_is_cleaned_by_the_next_one(server, src):
    remote, local = server.area()
    with server.connect() as session:
        push(session, src, remote)
        stale = local.parent / f"{local.name}.staging-deadbeef0000"
        make_tree(stale, {"half.txt": "half", ".dsvmctl-generation": "marked when the push made it"})
        (src / "train.py").write_text("v3")
        push(session, src, remote)
    assert not stale.exists()
    assert tree_snapshot(local) == expected_snapshot(src)


@pytest.fixture
def tiny_disk(tmp_path):
    """A 2 MiB tmpfs (needs root and mount rights; skipped elsewhere)."""
    mount = tmp_path / "tinydisk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def _area_on(server, disk: Path) -> tuple[str, Path]:
    """A push destination on `disk`, named the way this server's remote side sees it."""
    if server.kind == "vmhost":
        # commands on the emulated VM see its home; reach the disk through a link in it
        link = server.local_base / f"disk-{disk.parent.name}"
        link.symlink_to(disk)
        return f"{server.remote_base}/{link.name}/tree", disk / "tree"
    return f"{disk}/tree", disk / "tree"


def test_full_remote_disk_is_reported_and_the_previous_tree_kept(server, src, tiny_disk):
    remote, local = _area_on(server, tiny_disk)
    area = tiny_disk
    with server.connect() as session:
        push(session, src, remote)
        before = tree_snapshot(local)
        (src / "pkg" / "data" / "blob.bin").write_bytes(os.urandom(3_000_000))
        with pytest.raises(RemoteDiskFull) as caught:
            push(session, src, remote)
    assert "disk is full" in str(caught.value)
    assert tree_snapshot(local) == before
    assert not [p for p in area.iterdir() if ".staging-" in p.name]


def test_fetch_brings_files_and_directories_back(server, src, tmp_path):
    remote, local = server.area()
    with server.connect() as session:
        push(session, src, remote)
        summary = fetch(session, [f"{remote}/pkg", f"{remote}/train.py"], tmp_path / "back")
    assert (tmp_path / "back" / "train.py").read_text() == TREE["train.py"]
    assert (tmp_path / "back" / "pkg" / "data" / "blob.bin").read_bytes() == TREE["pkg/data/blob.bin"]
    assert summary.files == 4


def test_fetch_of_a_missing_path_names_it(server, tmp_path):
    remote, _ = server.area()
    with server.connect() as session:
        with pytest.raises(RemotePathNotFound, match="nope.json"):
            fetch(session, [f"{remote}/nope.json"], tmp_path / "back")


def test_read_only_remote_disk_is_reported_and_the_previous_tree_kept(server, src, tiny_disk):
    remote, local = _area_on(server, tiny_disk)
    with server.connect() as session:
        push(session, src, remote)
        before = tree_snapshot(local)
        subprocess.run(["mount", "-o", "remount,ro", str(tiny_disk)], check=True)
        (src / "train.py").write_text("v2")
        with pytest.raises(TransferError) as caught:
            push(session, src, remote)
        assert session.run("true").code == 0  # the session survives the failure
    assert "Read-only file system" in caught.value.remote_stderr
    assert "previous tree is unchanged" in str(caught.value)
    assert tree_snapshot(local) == before


def test_push_after_another_machine_pushed_replans_against_the_real_tree(server, src, tmp_path):
    remote, local = server.area()
    other_src = make_tree(tmp_path / "other", {"train.py": "other machine's version\n", "only-other.txt": "x"})
    with server.connect() as session:
        push(session, src, remote, cache_dir=tmp_path / "cache-a")
        push(session, other_src, remote, cache_dir=tmp_path / "cache-b")
        # machine A still believes its own tree is there; the VM says otherwise
        summary = push(session, src, remote, cache_dir=tmp_path / "cache-a")
    assert tree_snapshot(local) == expected_snapshot(src)
    assert summary.deleted == 1  # only-other.txt, known from the real manifest
    assert summary.files_sent == 6


def test_without_any_cache_every_push_asks_the_vm(server, src):
    remote, local = server.area()
    with server.connect() as session:
        push(session, src, remote, cache_dir=False)
        again = push(session, src, remote, cache_dir=False)
        (src / "train.py").write_text("v2")
        third = push(session, src, remote, cache_dir=False)
    assert again.method == "none" and (third.files_sent, third.deleted) == (1, 0)
    assert tree_snapshot(local) == expected_snapshot(src)


def test_a_push_onto_a_directory_it_did_not_create_is_refused_and_changes_nothing(server, src):
    from dsvmctl.remote import ForeignDestination

    remote, local = server.area()
    make_tree(local, {"existing/data.csv": "1,2\n", "notes.txt": "mine"})
    os.symlink("notes.txt", local / "link")
    before = tree_snapshot(local)
    with server.connect() as session:
        for method in ("auto", "sftp"):
            with pytest.raises(ForeignDestination, match="not made by `dsvmctl push`"):
                push(session, src, remote, method=method)
    assert tree_snapshot(local) == before and not local.is_symlink()
    assert sorted(p.name for p in local.parent.iterdir() if p.name.startswith(local.name)) == [local.name]


def test_a_link_at_the_destination_that_dsvmctl_did_not_make_is_refused(server, src, tmp_path):
    from dsvmctl.remote import ForeignDestination

    remote, local = server.area()
    elsewhere = make_tree(tmp_path / "elsewhere", {"keep.txt": "keep"})
    local.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(elsewhere, local)
    with server.connect() as session, pytest.raises(ForeignDestination):
        push(session, src, remote)
    assert tree_snapshot(elsewhere) == {"keep.txt": b"keep"} and os.readlink(local) == str(elsewhere)


def test_leftovers_beside_the_destination_are_removed_only_when_marked(server, src):
    remote, local = server.area()
    with server.connect() as session:
        push(session, src, remote)
        foreign = make_tree(local.parent / f"{local.name}.gen-notours", {"precious.txt": "x"})
        stale = make_tree(local.parent / f"{local.name}.staging-old", {".dsvmctl-generation": "m"})
        (src / "new.txt").write_text("new")
        push(session, src, remote)
    assert (foreign / "precious.txt").read_text() == "x" and not stale.exists()


