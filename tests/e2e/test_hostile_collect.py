"""A compromised VM sends `collect` hostile archives: nothing may be written outside the destination.

The local cloud's VM is made hostile by putting a fake `tar` (and `tar.exe`, for the Windows
fetch path) first on its PATH: it sends a crafted archive instead of the run directory. Shapes
a real `tar -c` produces from real files on the VM (a sparse file, a setuid file) use the real tar.
Each refusal must be a dsvmctl error naming the entry; the good archive after them must work.
Each collect runs twice (`over`): on a direct connection, and through the agent (which fetches
into the caller's directory itself: the same checks must hold there).
"""

from __future__ import annotations

import io
import json
import os
import stat
import tarfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from dsvmctl.cli import cli
from dsvmctl.remote import TransferError
from dsvmctl.remote.untar import UnsafeArchive

RID = "20260101T000000Z-abcdef"
PAYLOAD = b"written by a hostile VM\n"


@pytest.fixture
def vm(cloud, lab, lab_home):
    """The VM's home (run directory made), with `send(archive_bytes)` arming the fake tar."""
    emulator = cloud.backend.emulator
    record = emulator.get(lab.vm().id)
    cloud.backend.hosts.ensure(emulator, record)
    host = cloud.backend.hosts.hosts[record["id"].lower()]
    home = lab_home
    (home / "dsvmctl" / "runs" / RID).mkdir(parents=True)
    fakebin = home / ".fakebin"
    fakebin.mkdir()
    real_path = host.path

    class Hostile:
        def __init__(self):
            self.home, self.fakebin = home, fakebin

        def send(self, archive: bytes) -> None:
            (home / ".hostile.tar").write_bytes(archive)
            for name in ("tar", "tar.exe"):
                fake = fakebin / name
                fake.write_text('#!/bin/sh\nexec cat "$HOME/.hostile.tar"\n')
                fake.chmod(0o755)
            # PATH is read inside the VM's sandbox, where the disk's home is /home/<user>.
            inside = f"/home/{host.admin_user}/.fakebin"
            host.path = f"{inside}{os.pathsep}{real_path or os.environ['PATH']}"

        def real_tar(self) -> None:
            host.path = real_path

    return Hostile()


@pytest.fixture
def outside(tmp_path) -> Path:
    """What an escape would hit: a directory beside the destination, with a file in it."""
    target = tmp_path / "outside"
    target.mkdir()
    (target / "keep.txt").write_text("mine\n")
    return target


def member(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"", **attrs) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    info.mode = attrs.pop("mode", 0o644 if kind != tarfile.DIRTYPE else 0o755)
    for key, value in attrs.items():
        setattr(info, key, value)
    return info, data


def archive(*members: tuple[tarfile.TarInfo, bytes], fmt: int = tarfile.PAX_FORMAT) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=fmt) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return buffer.getvalue()


def nothing_escaped(tmp_path: Path, dest: Path, outside: Path) -> None:
    assert sorted(p.name for p in outside.iterdir()) == ["keep.txt"]
    assert (outside / "keep.txt").read_text() == "mine\n" and not (outside / "keep.txt").is_symlink()
    for path in tmp_path.rglob("*"):
        if path.is_file() and not path.is_symlink() and path.read_bytes() == PAYLOAD:
            assert dest in path.parents, f"hostile payload written outside the destination: {path}"


def path_max_chain(dest: Path, outside: Path) -> bytes:
    """The CVE-2025-4517 shape: symlinks whose expansion outgrows PATH_MAX, so realpath() stops
    resolving and the data filter believes a link inside the tree, then a file through it."""
    comp, steps, path, members = "d" * 247, "abcdefghijklmnop", "", []
    for step in steps:
        members.append(member(os.path.join(path, comp), tarfile.DIRTYPE))
        members.append(member(os.path.join(path, step), tarfile.SYMTYPE, linkname=comp))
        path = os.path.join(path, comp)
    linkpath = os.path.join(*steps, "l" * 254)
    members.append(member(linkpath, tarfile.SYMTYPE, linkname="../" * len(steps)))
    members.append(member("escape", tarfile.SYMTYPE, linkname=linkpath + "/" + os.path.relpath(outside, dest)))
    members.append(member("escape/evil", data=PAYLOAD))
    return archive(*members)


def huge_header() -> bytes:
    """A regular member that says it holds 1 TiB (what a sparse file becomes without tar -S)."""
    info = tarfile.TarInfo("big.bin")
    info.size = 2**40
    return info.tobuf(format=tarfile.PAX_FORMAT) + b"\0" * 2048


SHAPES = {
    "dotdot": lambda dest, outside: archive(member(os.path.relpath(outside, dest) + "/evil", data=PAYLOAD)),
    "absolute": lambda dest, outside: archive(member(str(outside / "evil"), data=PAYLOAD)),
    "hard_link": lambda dest, outside: archive(
        member("hl", tarfile.LNKTYPE, linkname=str(outside / "keep.txt")), member("hl", data=PAYLOAD)),
    "symlink_then_file": lambda dest, outside: archive(
        member("ln", tarfile.SYMTYPE, linkname=str(outside)), member("ln/evil", data=PAYLOAD)),
    "device": lambda dest, outside: archive(member("null", tarfile.CHRTYPE, devmajor=1, devminor=3)),
    "fifo": lambda dest, outside: archive(member("pipe", tarfile.FIFOTYPE)),
    "huge_file_header": lambda dest, outside: huge_header(),
    "path_max_symlink_chain": path_max_chain,
}

REFUSED = {"dotdot": "`..`", "absolute": "absolute", "hard_link": "hard link", "symlink_then_file": "symbolic link",
           "device": "device", "fifo": "fifo", "huge_file_header": "limit for one file",
           "path_max_symlink_chain": "symbolic link"}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_collect_refuses_each_hostile_archive_and_writes_nothing_outside(shape, over, lab, vm, tmp_path, outside):
    dest = tmp_path / "dest"
    vm.send(SHAPES[shape](dest, outside))
    with pytest.raises(UnsafeArchive) as caught:
        lab.collect(RID, dest)
    assert REFUSED[shape] in caught.value.reason
    nothing_escaped(tmp_path, dest, outside)


def test_the_windows_fetch_path_applies_the_same_rules(lab, vm, tmp_path, outside):
    from dsvmctl.cloud import workload

    dest = tmp_path / "dest"
    dest.mkdir()
    vm.send(archive(member(RID, tarfile.DIRTYPE), member(f"{RID}/ln", tarfile.SYMTYPE, linkname=str(outside)),
                    member(f"{RID}/ln/evil", data=PAYLOAD)))
    with lab.session() as session, pytest.raises(UnsafeArchive, match="symbolic link"):
        workload.fetch_windows(session, f"dsvmctl\\runs\\{RID}", dest)
    nothing_escaped(tmp_path, dest, outside)

    vm.send(archive(member(RID, tarfile.DIRTYPE), member(f"{RID}/metrics.json", data=b"{}")))
    with lab.session() as session:
        fetched = workload.fetch_windows(session, f"dsvmctl\\runs\\{RID}", dest)
    assert fetched["files"] == 1 and (dest / "metrics.json").read_bytes() == b"{}"


def test_a_gnu_sparse_member_is_refused_before_its_map_is_read(over, lab, vm, tmp_path, outside):
    info = tarfile.TarInfo("sparse.bin")
    info.type = tarfile.GNUTYPE_SPARSE
    vm.send(info.tobuf(format=tarfile.GNU_FORMAT) + b"\0" * 1024)
    with pytest.raises(UnsafeArchive, match="sparse"):
        lab.collect(RID, tmp_path / "dest")
    nothing_escaped(tmp_path, tmp_path / "dest", outside)


def test_a_real_huge_sparse_file_on_the_vm_is_refused_by_size_without_reading_it(over, lab, vm, tmp_path, outside):
    with open(vm.home / "dsvmctl" / "runs" / RID / "huge.bin", "wb") as huge:
        huge.truncate(2**40)  # 1 TiB of holes: real `tar -c` would stream a TiB of zeros
    with pytest.raises(UnsafeArchive, match="limit for one file"):
        lab.collect(RID, tmp_path / "dest")
    assert not (tmp_path / "dest" / "huge.bin").exists()


def test_setuid_and_group_write_bits_are_not_kept(over, lab, vm, tmp_path):
    run_dir = vm.home / "dsvmctl" / "runs" / RID
    tool = run_dir / "tool"
    tool.write_bytes(b"#!/bin/sh\n")
    tool.chmod(0o6777)
    (run_dir / "metrics.json").write_text(json.dumps({"device": "cpu"}))
    vm.real_tar()
    result = lab.collect(RID, tmp_path / "dest")
    mode = (tmp_path / "dest" / "tool").stat().st_mode
    assert not mode & (stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX | stat.S_IWGRP | stat.S_IWOTH)
    assert mode & stat.S_IXUSR and result.device == "cpu"


@pytest.mark.slow
def test_100k_tiny_files_stop_at_the_entry_limit(over, lab, vm, tmp_path, outside):
    # One header, renamed f000000..f099999: only the name digits and the checksum change.
    template = bytearray(tarfile.TarInfo("f000000").tobuf(format=tarfile.USTAR_FORMAT))
    base = int(template[148:154], 8) - sum(b"000000")
    blocks = bytearray()
    for i in range(100_000):
        digits = b"%06d" % i
        template[1:7] = digits
        template[148:155] = b"%06o\0" % (base + sum(digits))
        blocks += template
    vm.send(bytes(blocks) + b"\0" * 1024)
    dest = tmp_path / "dest"
    with pytest.raises(UnsafeArchive, match="more than 10,000 entries"):
        lab.collect(RID, dest)
    assert len(list(dest.iterdir())) == 10_000
    nothing_escaped(tmp_path, dest, outside)


def test_the_cli_reports_a_hostile_archive_as_an_error_not_a_traceback(over, cloud, lab, vm, tmp_path, outside,
                                                                        monkeypatch):
    from dsvmctl.cloud import localhosts

    vm.send(SHAPES["symlink_then_file"](tmp_path / "dest", outside))
    image_path = localhosts.image_path
    monkeypatch.setattr(localhosts, "image_path", lambda: f"/home/{lab.record.admin_user}/.fakebin{os.pathsep}{image_path()}")  # the CLI's own host
    if over == "agent":
        cloud.backend.hosts.close()  # the CLI's cloud has the agent host the VM (with that PATH)
    result = CliRunner().invoke(cli, ["collect", "lab", RID, "--dest", str(tmp_path / "dest")])
    assert result.exit_code == UnsafeArchive.exit_code, result.output
    assert "refuses: 'ln': a symbolic link" in result.output and "Traceback" not in result.output
    nothing_escaped(tmp_path, tmp_path / "dest", outside)


def test_a_good_archive_still_arrives_whole_after_a_refused_one(over, lab, vm, tmp_path, outside):
    dest = tmp_path / "dest"
    vm.send(SHAPES["dotdot"](dest, outside))
    with pytest.raises(UnsafeArchive):
        lab.collect(RID, dest)
    vm.send(archive(member("./", tarfile.DIRTYPE), member("./metrics.json", data=b'{"device": "cpu"}'),
                    member("./sub", tarfile.DIRTYPE), member("./sub/run.log", data=b"step 1\n", mode=0o755)))
    result = lab.collect(RID, dest)
    assert result.device == "cpu" and (dest / "sub" / "run.log").read_bytes() == b"step 1\n"
    assert result.fetch.files == 2
    # a broken archive is a transfer error too, not a traceback
    vm.send(b"this is not a tar archive" * 100)
    with pytest.raises(TransferError, match="broken archive"):
        lab.collect(RID, dest)


def test_files_dsvmctl_reads_or_writes_after_the_fetch_cannot_be_turned_against_it(over, lab, vm, tmp_path):
    dest = tmp_path / "dest"
    vm.send(archive(member("run.json", tarfile.DIRTYPE), member("metrics.json", data=b"[1, 2]")))
    with pytest.raises(UnsafeArchive, match="where dsvmctl writes its run.json"):
        lab.collect(RID, dest)
    vm.send(archive(member("metrics.json", data=b'["not", "a", "dict"]')))
    result = lab.collect(RID, tmp_path / "dest2")
    assert result.device is None and result.metrics is None
