"""Unpack a tar stream sent by a VM without trusting the VM.

A compromised VM controls every byte of what `fetch`/`collect` receive, so dsvmctl checks each
entry itself instead of relying on tarfile's extraction filters (absent before Python 3.11.4,
and defeated by a symlink chain longer than PATH_MAX on the Pythons that have them:
CVE-2025-4517). tarfile only parses headers here; nothing is extracted by it.

The rules:
- only regular files and directories; links of any kind, devices, fifos and sparse members are
  refused, as are names that are absolute, hold `..`, or are too long or too deep;
- modes keep the owner's execute bit only (no setuid/setgid/sticky, no group/other write);
- the entry count, each file's size and the total size are bounded (`FetchLimits`), checked
  against the header before any data is written and against the bytes really written;
- every path is opened one component at a time below the destination with `dir_fd`,
  O_NOFOLLOW and O_DIRECTORY, and each file is written as a new file (O_EXCL) then renamed over
  its name, so nothing is ever written through an existing link or file.

A refused entry stops the unpacking with `UnsafeArchive`, naming the entry and the rule.
"""

from __future__ import annotations

import os
import secrets
import stat
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from dsvmctl.remote.errors import TransferError

CHUNK = 2**20
# Metadata members (pax headers, GNU long names) hold names and attributes: a few KiB at most.
MAX_META_BYTES = 64 * 2**10
MAX_COMPONENT_BYTES = 255
MAX_PATH_BYTES = 4096
MAX_DEPTH = 64
_META_TYPES = {tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE, tarfile.GNUTYPE_LONGNAME,
               tarfile.GNUTYPE_LONGLINK}
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


@dataclass(frozen=True)
class FetchLimits:
    """Bounds on what one fetch may write (a run directory: metrics, logs, a few checkpoints)."""

    max_entries: int = 10_000
    max_file_bytes: int = 8 * 2**30
    max_total_bytes: int = 32 * 2**30


DEFAULT_LIMITS = FetchLimits()


class UnsafeArchive(TransferError):
    """The VM sent an archive entry dsvmctl does not write (a link, a device, `..`, too big...)."""

    exit_code = 30

    def __init__(self, entry: str, reason: str):
        super().__init__(
            f"the VM sent an archive entry dsvmctl refuses: {entry!r}: {reason}. The fetch stopped there; "
            "nothing was written outside the destination. If the VM is yours, remove or replace that entry "
            "on it (only regular files and directories are fetched); otherwise treat the VM as compromised."
        )
        self.entry, self.reason = entry, reason


@dataclass
class Unpacked:
    files: int = 0
    dirs: int = 0
    bytes: int = 0


class _Header(tarfile.TarInfo):
    """Refuses oversized metadata and sparse members as soon as their header block is parsed,
    before tarfile reads their body (a huge pax header or sparse map would be held in memory)."""

    @classmethod
    def frombuf(cls, buf, encoding, errors):  # type: ignore[no-untyped-def]
        info = super().frombuf(buf, encoding, errors)
        if info.type in _META_TYPES and info.size > MAX_META_BYTES:
            raise UnsafeArchive(info.name, f"a {info.size:,}-byte metadata header (at most {MAX_META_BYTES:,})")
        if info.type == tarfile.GNUTYPE_SPARSE:
            raise UnsafeArchive(info.name, "a sparse file member (only regular files and directories)")
        return info


def checked_parts(name: str) -> list[str]:
    """The components of an archive name, or UnsafeArchive: relative, no `..`, bounded length."""
    if "\0" in name:
        raise UnsafeArchive(name, "a NUL byte in the name")
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":" and name[0].isalpha()):
        raise UnsafeArchive(name, "an absolute name")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchive(name, "a `..` component")
    if len(parts) > MAX_DEPTH:
        raise UnsafeArchive(name, f"more than {MAX_DEPTH} levels deep")
    if len(name.encode("utf-8", "surrogateescape")) > MAX_PATH_BYTES:
        raise UnsafeArchive(name, f"a name longer than {MAX_PATH_BYTES} bytes")
    if any(len(p.encode("utf-8", "surrogateescape")) > MAX_COMPONENT_BYTES for p in parts):
        raise UnsafeArchive(name, f"a path component longer than {MAX_COMPONENT_BYTES} bytes")
    return parts


def _kind(member: tarfile.TarInfo) -> str:
    if member.issym():
        return f"a symbolic link (to {member.linkname!r})"
    if member.islnk():
        return f"a hard link (to {member.linkname!r})"
    if member.ischr() or member.isblk():
        return "a device file"
    if member.isfifo():
        return "a fifo"
    if member.issparse():
        return "a sparse file member"
    return f"an entry of type {member.type!r}"


def _file_mode(mode: int) -> int:
    return 0o755 if mode & stat.S_IXUSR else 0o644


class _Tree:
    """Directory fds below the destination, opened (and made) one component at a time."""

    def __init__(self, dest: Path):
        self.root = os.open(dest, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0))
        self._open: dict[tuple[str, ...], int] = {(): self.root}

    def dir(self, parts: tuple[str, ...], entry: str) -> int:
        fd = self._open.get(parts)
        if fd is not None:
            return fd
        parent = self.dir(parts[:-1], entry)
        try:
            os.mkdir(parts[-1], 0o755, dir_fd=parent)
        except FileExistsError:
            pass
        try:
            fd = os.open(parts[-1], _DIR_FLAGS, dir_fd=parent)
        except OSError as exc:  # ELOOP: a link; ENOTDIR: a file
            raise UnsafeArchive(entry, f"{'/'.join(parts)} is not a directory here ({exc.strerror})") from None
        self._open[parts] = fd
        return fd

    def close(self) -> None:
        for fd in self._open.values():
            os.close(fd)
        self._open.clear()


def unpack(stream: IO[bytes], dest: str | Path, *, limits: FetchLimits = DEFAULT_LIMITS,
           strip: int = 0) -> Unpacked:
    """Write the regular files and directories of the tar `stream` below `dest` (an existing
    directory). `strip` drops that many leading name components (entries above them are only
    allowed as directories). Raises UnsafeArchive on the first entry that breaks a rule and
    TransferError for a broken archive."""
    done = Unpacked()
    tree = _Tree(Path(dest))
    entries = 0
    try:
        with tarfile.open(fileobj=stream, mode="r|", tarinfo=_Header, bufsize=CHUNK) as archive:
            for member in archive:
                entries += 1
                if entries > limits.max_entries:
                    raise UnsafeArchive(member.name, f"more than {limits.max_entries:,} entries in one fetch")
                parts = checked_parts(member.name)
                if not (member.isdir() or (member.isreg() and not member.issparse())):
                    raise UnsafeArchive(member.name, _kind(member) + "; only regular files and directories are "
                                        "fetched")
                parts = parts[strip:]
                if not parts:
                    if member.isdir():
                        continue
                    raise UnsafeArchive(member.name, "a file where the fetched directory should be")
                if member.isdir():
                    tree.dir(tuple(parts), member.name)
                    done.dirs += 1
                    continue
                if member.size > limits.max_file_bytes:
                    raise UnsafeArchive(member.name, f"{member.size:,} bytes, over the {limits.max_file_bytes:,}-byte "
                                        "limit for one file")
                if done.bytes + member.size > limits.max_total_bytes:
                    raise UnsafeArchive(member.name, f"the fetch would exceed {limits.max_total_bytes:,} bytes in all")
                parent = tree.dir(tuple(parts[:-1]), member.name)
                source = archive.extractfile(member)
                assert source is not None  # a regular member always has a body
                done.bytes += _write_file(parent, parts[-1], source, member, limits.max_file_bytes)
                done.files += 1
    except tarfile.TarError as exc:
        raise TransferError(f"the VM sent a broken archive ({exc}); nothing more was written") from None
    finally:
        tree.close()
    return done


def _write_file(parent: int, name: str, source: IO[bytes], member: tarfile.TarInfo, cap: int) -> int:
    """A new file beside `name` (O_EXCL, never through a link), then renamed over it."""
    part = f".{name[:200]}.dsvmctl-part-{secrets.token_hex(4)}"
    fd = os.open(part, _NEW_FILE_FLAGS, 0o600, dir_fd=parent)
    written = 0
    try:
        with os.fdopen(fd, "wb", closefd=True) as out:
            while chunk := source.read(CHUNK):
                written += len(chunk)
                if written > cap:  # the header lied about the size
                    raise UnsafeArchive(member.name, f"more than {cap:,} bytes")
                out.write(chunk)
            os.fchmod(out.fileno(), _file_mode(member.mode))
            try:
                os.utime(out.fileno(), (member.mtime, member.mtime))
            except (OSError, OverflowError, ValueError):
                pass  # an impossible time from the VM: keep the time of writing
        try:
            os.replace(part, name, src_dir_fd=parent, dst_dir_fd=parent)
        except OSError as exc:  # EISDIR: a directory of that name is here already
            raise UnsafeArchive(member.name, f"cannot replace what is there ({exc.strerror})") from None
    except BaseException:
        try:
            os.unlink(part, dir_fd=parent)
        except OSError:
            pass
        raise
    return written
