"""untar.unpack on its own: the rules for names, kinds and limits, and how it writes."""

from __future__ import annotations

import io
import os
import tarfile

import pytest

from dsvmctl.remote import TransferError
from dsvmctl.remote.untar import FetchLimits, UnsafeArchive, checked_parts, unpack


def tar_of(*members: tuple[str, bytes | None]) -> io.BytesIO:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            if data is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    return buffer


@pytest.mark.parametrize("name, reason", [
    ("/etc/passwd", "absolute"), ("\\\\server\\share", "absolute"), ("C:/x", "absolute"),
    ("a/../../b", "`..`"), ("..", "`..`"), ("a/" * 65 + "f", "levels deep"),
    ("x" * 256, "longer than 255"), (("x" * 200 + "/") * 21, "longer than 4096"),
])
def test_names_dsvmctl_refuses(name, reason):
    with pytest.raises(UnsafeArchive) as caught:
        checked_parts(name)
    assert reason in caught.value.reason


def test_names_dsvmctl_accepts_drop_dot_components():
    assert checked_parts("./a/./b/") == ["a", "b"]
    assert checked_parts(".") == []
    assert checked_parts("a b/c'd$(x)") == ["a b", "c'd$(x)"]


def test_a_file_replaces_what_was_there_without_writing_through_it(tmp_path):
    dest, victim = tmp_path / "dest", tmp_path / "victim"
    dest.mkdir()
    victim.write_text("keep")
    os.symlink(victim, dest / "metrics.json")  # planted locally: must be replaced, not followed
    os.link(victim, dest / "hard.txt")
    unpack(tar_of(("metrics.json", b"{}"), ("hard.txt", b"new")), dest)
    assert victim.read_text() == "keep"
    assert (dest / "metrics.json").read_bytes() == b"{}" and not (dest / "metrics.json").is_symlink()
    assert (dest / "hard.txt").read_bytes() == b"new"
    assert not [p for p in dest.iterdir() if "dsvmctl-part" in p.name]


def test_a_local_link_on_the_way_is_not_followed(tmp_path):
    dest, outside = tmp_path / "dest", tmp_path / "outside"
    dest.mkdir()
    outside.mkdir()
    os.symlink(outside, dest / "sub")
    with pytest.raises(UnsafeArchive, match="not a directory here"):
        unpack(tar_of(("sub/evil", b"x")), dest)
    assert list(outside.iterdir()) == []


def test_limits_count_the_bytes_really_written_and_the_entries(tmp_path):
    with pytest.raises(UnsafeArchive, match="over the 3-byte limit"):
        unpack(tar_of(("a", b"abcd")), tmp_path, limits=FetchLimits(max_file_bytes=3))
    with pytest.raises(UnsafeArchive, match="exceed 5 bytes in all"):
        unpack(tar_of(("a", b"abc"), ("b", b"abc")), tmp_path, limits=FetchLimits(max_total_bytes=5))
    with pytest.raises(UnsafeArchive, match="more than 2 entries"):
        unpack(tar_of(("d", None), ("d/a", b""), ("d/b", b"")), tmp_path, limits=FetchLimits(max_entries=2))


def test_a_truncated_or_oversized_metadata_archive_is_a_transfer_error(tmp_path):
    whole = tar_of(("a", b"x" * 5000)).getvalue()
    with pytest.raises(TransferError, match="broken archive"):
        unpack(io.BytesIO(whole[:2048]), tmp_path)
    info = tarfile.TarInfo("././@PaxHeader")
    info.type, info.size = tarfile.XHDTYPE, 10**9
    with pytest.raises(UnsafeArchive, match="metadata header"):
        unpack(io.BytesIO(info.tobuf(format=tarfile.USTAR_FORMAT)), tmp_path)


def test_strip_drops_the_top_directory_and_refuses_a_file_in_its_place(tmp_path):
    done = unpack(tar_of(("run", None), ("run/m.json", b"{}"), ("run/sub", None)), tmp_path, strip=1)
    assert (done.files, done.dirs) == (1, 1) and (tmp_path / "m.json").read_bytes() == b"{}"
    with pytest.raises(UnsafeArchive, match="where the fetched directory should be"):
        unpack(tar_of(("run", b"file")), tmp_path, strip=1)
