"""push and fetch against both SSH servers: incremental, mirrored, atomic, resumable."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import paramiko
import pytest

from dsvmctl.remote import ForeignDestination, RemoteDiskFull, RemotePathNotFound, SessionClosed, TransferError, fetch, push
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


@pytest.fixture
def tiny_area(server, tiny_disk, request) -> tuple[str, Path]:
    """A push destination on the tiny disk, named the way this server's remote side sees it."""
    if server.kind != "vmhost":
        return f"{tiny_disk}/tree", tiny_disk / "tree"
    # A local VM sees only its own disk: mount the tiny one inside it, then reboot the VM's
    # sandbox so its view has the new mount (as a disk attached to a VM shows after a reboot).
    inside = server.local_base / f"disk-{tiny_disk.parent.name}"
    inside.mkdir()
    subprocess.run(["mount", "--bind", str(tiny_disk), str(inside)], check=True)
    vmhost = request.getfixturevalue("vmhost")
    vmhost.sandbox.stop()

    def detach() -> None:
        subprocess.run(["umount", "-l", str(inside)], check=False)
        vmhost.sandbox.stop()  # drop the VM's copy of the mount

    request.addfinalizer(detach)
    return f"{server.remote_base}/{inside.name}/tree", tiny_disk / "tree"


def test_full_remote_disk_is_reported_and_the_previous_tree_kept(server, src, tiny_disk, tiny_area):
    remote, local = tiny_area
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


def test_read_only_remote_disk_is_reported_and_the_previous_tree_kept(server, src, tiny_disk, tiny_area):
    remote, local = tiny_area
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




# -- the unchanged re-push: no remote shell, no cache rewrite, yet every change still seen -----


class CountingExecs:
    """The session, counting the remote commands it starts (each costs a shell start on the VM)."""

    def __init__(self, session):
        self._session, self.execs = session, 0

    def open_exec(self, command: str):
        self.execs += 1
        return self._session.open_exec(command)

    def __getattr__(self, name: str):
        return getattr(self._session, name)


class WithoutSFTP(CountingExecs):
    """A VM whose sshd offers no SFTP subsystem, or whose login script prints into the stream."""

    def __init__(self, session, error: Exception):
        super().__init__(session)
        self.error = error

    def sftp(self):
        raise self.error


def cache_files(cache: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(cache)): (p.stat().st_ino, p.stat().st_mtime_ns) for p in cache.rglob("*.json")}


def test_an_unchanged_re_push_starts_no_remote_command_and_rewrites_no_cache_file(server, src, tmp_path):
    remote, _ = server.area()
    cache = tmp_path / "push-cache"
    with server.connect() as session:
        push(session, src, remote, cache_dir=cache)
        before = cache_files(cache)
        counting = CountingExecs(session)
        again = push(counting, src, remote, cache_dir=cache)
    assert (again.method, again.files_sent, counting.execs) == ("none", 0, 0)
    assert len(before) == 2 and cache_files(cache) == before


def test_a_same_size_edit_and_a_mode_change_are_sent_after_an_unchanged_re_push(server, src, tmp_path):
    remote, local = server.area()
    cache = tmp_path / "push-cache"
    with server.connect() as session:
        push(session, src, remote, cache_dir=cache)
        assert push(session, src, remote, cache_dir=cache).method == "none"
        model = src / "pkg" / "model.py"
        stamp = model.stat().st_mtime_ns
        model.write_text("W = 2\n" * 100)  # same size, new content
        os.utime(model, ns=(stamp + 10**9, stamp + 10**9))
        edited = push(session, src, remote, cache_dir=cache)
        (src / "train.py").chmod(0o700)
        chmodded = push(session, src, remote, cache_dir=cache)
    assert (edited.method, edited.files_sent) == ("tar", 1)
    assert (chmodded.method, chmodded.files_sent) == ("tar", 1)
    assert (local / "pkg" / "model.py").read_text() == "W = 2\n" * 100
    assert (local / "train.py").stat().st_mode & 0o777 == 0o700
    assert tree_snapshot(local) == expected_snapshot(src)


def test_an_unchanged_re_push_after_the_tree_vanished_on_the_vm_sends_it_all_again(server, src, tmp_path):
    # As after a rebuilt VM: what this machine remembers is not there any more.
    remote, local = server.area()
    cache = tmp_path / "push-cache"
    with server.connect() as session:
        push(session, src, remote, cache_dir=cache)
        subprocess.run(["rm", "-rf", str(local), *map(str, local.parent.glob(local.name + ".gen-*"))], check=True)
        again = push(session, src, remote, cache_dir=cache)
    assert (again.method, again.files_sent) == ("tar", 6)
    assert tree_snapshot(local) == expected_snapshot(src)


@pytest.mark.parametrize("error", [SessionClosed("opening SFTP", "subsystem request failed"),
                                   paramiko.SFTPError("Garbage packet received")], ids=["none", "garbled"])
def test_without_sftp_an_unchanged_re_push_asks_with_one_remote_command(server, src, tmp_path, error):
    remote, local = server.area()
    cache = tmp_path / "push-cache"
    with server.connect() as session:
        push(session, src, remote, cache_dir=cache)
        bare = WithoutSFTP(session, error)
        again = push(bare, src, remote, cache_dir=cache)
        assert (again.method, bare.execs) == ("none", 1)
        subprocess.run(["rm", "-rf", str(local)], check=True)  # the link only: the generation stays
        third = push(bare, src, remote, cache_dir=cache)
    assert (third.method, third.files_sent) == ("tar", 6)
    assert tree_snapshot(local) == expected_snapshot(src)


def test_an_unchanged_re_push_onto_a_link_someone_replaced_is_refused(server, src, tmp_path):
    remote, local = server.area()
    cache = tmp_path / "push-cache"
    elsewhere = make_tree(local.parent / (local.name + "-theirs"), {"theirs.txt": "not dsvmctl's"})
    with server.connect() as session:
        push(session, src, remote, cache_dir=cache)
        local.unlink()
        local.symlink_to(elsewhere.name)
        with pytest.raises(ForeignDestination):
            push(session, src, remote, cache_dir=cache)
    assert tree_snapshot(elsewhere) == {"theirs.txt": b"not dsvmctl's"}
