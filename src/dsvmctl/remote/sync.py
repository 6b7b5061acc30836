"""push (local tree -> VM, incremental and atomic) and fetch (VM paths -> local directory).

A push plans against what this machine last left at the destination (kept in a local cache;
"nothing there yet" when unknown) and sends one exec channel a header plus one tar stream of
the changed files. The VM first checks that the destination still is in the planned-against
state, then stages, extracts and switches atomically (see `posix.py`). If the state differs
(someone else pushed, the cache is gone, the VM was rebuilt), nothing is changed: the push
probes the real manifest and goes again. So the common case costs one round trip. When
nothing changed, the state is checked over SFTP instead (`_still_at`), which starts no remote
shell; with an agent, on an SFTP channel that is already open. Where the VM has no tar, the
changed files go one by one over SFTP into the same staging directory.
An interrupted push leaves the previous tree whole; the next one cleans up and completes it.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import posixpath
import select
import stat
import tarfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

from dsvmctl.paths import write_atomic
from dsvmctl.remote import errors, memo, posix, windows
from dsvmctl.remote.channel import pump
from dsvmctl.remote.manifest import HashCache, Manifest, Plan, plan, scan
from dsvmctl.remote.ignore import IgnoreRules
from dsvmctl.remote.untar import DEFAULT_LIMITS, FetchLimits, Unpacked, unpack

if TYPE_CHECKING:
    import paramiko

    from dsvmctl.remote.session import Session

CHUNK = 2**20
BLOCK = tarfile.BLOCKSIZE
ProgressCallback = Callable[[int], None]


@dataclass(frozen=True)
class PushSummary:
    dest: str
    files_sent: int
    bytes_sent: int
    deleted: int
    unchanged: int
    seconds: float
    method: str  # "tar", "sftp", or "none" when nothing changed

    def to_json(self) -> dict:
        return dict(self.__dict__)


@dataclass(frozen=True)
class FetchSummary:
    local_dir: str
    files: int
    bytes_received: int
    seconds: float

    def to_json(self) -> dict:
        return dict(self.__dict__)


def default_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "dsvmctl"


class _Caches:
    """File hashes of the source tree, and what the last push left at this destination."""

    def __init__(self, cache_dir: Path | None, root: Path, session: "Session", dest: str):
        self.hashes = HashCache(None)
        self._state_path: Path | None = None
        if cache_dir is None:
            return
        source_key = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:20]
        self.hashes = HashCache(cache_dir / "push-hashes" / f"{source_key}.json")
        host_key = session.transport.get_remote_server_key().get_base64()
        where = f"{session.user}@{session.host}:{session.port} {host_key} {dest}"
        self._state_path = cache_dir / "push-state" / f"{hashlib.sha256(where.encode()).hexdigest()[:20]}.json"

    def remote_state(self) -> tuple[str, Manifest] | None:
        if self._state_path is None:
            return None
        return memo.load(self._state_path, _parse_push_state)

    def save(self, local: Manifest, state: str | None = None, manifest: Manifest | None = None) -> None:
        """The hashes of `local`'s files; with `state`, what the destination now holds."""
        self.hashes.save(set(local.entries))
        if self._state_path is None or state is None or manifest is None:
            return
        body = {"state": state, "manifest": manifest.to_json()}
        write_atomic(self._state_path, json.dumps(body, separators=(",", ":")))


def _parse_push_state(raw: bytes) -> tuple[str, Manifest] | None:
    try:
        saved = json.loads(raw)
        return str(saved["state"]), Manifest.from_json(saved["manifest"])
    except (ValueError, KeyError, TypeError):
        return None


def push(
    session: "Session",
    src_dir: str | Path,
    dest_dir: str,
    ignore_file: str | None = ".dsvmignore",
    *,
    method: str = "auto",
    cache_dir: Path | str | bool | None = True,
    progress: ProgressCallback | None = None,
    confined: bool = False,
) -> PushSummary:
    """Mirror `src_dir` onto the VM at `dest_dir` (relative to the remote home, or absolute;
    with `confined`, only below the home). An existing destination dsvmctl did not push is
    never replaced (ForeignDestination; see posix.py).

    Only new or changed files travel; files deleted locally are deleted remotely; files that
    only exist remotely (e.g. a run's outputs) are kept. `method`: "auto" (tar when the VM has
    it, else SFTP), "tar" or "sftp". `cache_dir`: True for the user cache directory, a path,
    or False (hash every candidate file, ask the VM for its manifest every time).
    `progress(bytes_sent)` is called as data goes out.
    """
    started = time.monotonic()
    root = Path(src_dir)
    if not root.is_dir():
        raise errors.TransferError(f"nothing to push: {root} is not a directory.")
    if method not in ("auto", "tar", "sftp"):
        raise ValueError(f"method must be auto, tar or sftp, not {method!r}")
    paths = posix.DestPaths.of(dest_dir, uuid.uuid4().hex[:12], confined=confined)
    base = default_cache_dir() if cache_dir is True else (Path(cache_dir) if cache_dir else None)
    caches = _Caches(base, root, session, paths.remote_path)
    known = caches.remote_state()

    def summary(sent: int, work: Plan, how: str) -> PushSummary:
        files = sum(1 for p in work.send if local.entries[p].kind == "file")
        return PushSummary(dest_dir, files, sent, len(work.delete), work.unchanged, time.monotonic() - started, how)

    # With nothing known about the destination, open the push channel first: the remote shell
    # starts while the local tree is scanned. With a known state the tree is planned first,
    # since an unchanged one needs no remote shell at all (see _still_at).
    pusher = session.open_exec(posix.push_tar_script(paths)) if method != "sftp" and known is None else None
    try:
        rules = IgnoreRules.from_file(root / ignore_file) if ignore_file else IgnoreRules()
        local = scan(root, rules, caches.hashes)
        if method != "sftp":
            state, remote = known if known else ("-", Manifest())
            work = plan(local, remote, root, caches.hashes)
            changed = bool(work.send or work.delete)
            verdict = _still_at(session, paths, state) if known and not changed else None
            if verdict:
                caches.save(local)  # what the destination holds is what the state file says
                return summary(0, work, "none")
            if verdict is None:  # changes to send, or no SFTP to look with: the push channel checks
                channel, pusher = pusher or session.open_exec(posix.push_tar_script(paths)), None
                sent = _send_tar(session, paths, channel, state, root, local, work, caches.hashes, progress)
                if sent is not None:
                    if changed:
                        caches.save(local, paths.push_id, local)
                    else:
                        caches.save(local)
                    return summary(sent, work, "tar" if changed else "none")
        # The destination is not what we planned against, or SFTP was asked for: look first.
        has_tar, state, remote = _probe(session, paths)
        work = plan(local, remote, root, caches.hashes)
        if not work.send and not work.delete:
            caches.save(local, state, remote)
            return summary(0, work, "none")
        if has_tar and method != "sftp":
            channel = session.open_exec(posix.push_tar_script(paths))
            sent = _send_tar(session, paths, channel, state, root, local, work, caches.hashes, progress)
            if sent is None:
                raise errors.TransferError(
                    f"{paths.remote_path} changed on the VM while this push ran (another push?). "
                    "Nothing was switched; push again."
                )
            how = "tar"
        else:
            _prepare(session, paths, work.delete)
            with session.sftp_lock:
                sent = _send_sftp(session, paths, root, local, work, caches.hashes, progress)
            how = "sftp"
        caches.save(local, paths.push_id, local)
        return summary(sent, work, how)
    finally:
        if pusher is not None:
            _skip(pusher)


def push_windows(session: "Session", root: Path, dest: str, ignore_file: str | None, *,
                 progress: ProgressCallback | None = None) -> PushSummary:
    """A push to a Windows host: read the stored manifest, stage (robocopy copy + deletions),
    send the changed files as one tar to tar.exe, swap (see `dsvmctl.remote.windows`)."""
    started = time.monotonic()
    rules = IgnoreRules.from_file(root / ignore_file) if ignore_file else IgnoreRules()
    local = scan(root, rules, HashCache(None))
    code, out, err = run_script(session, windows.read_manifest(dest))
    if code != 0:
        raise errors.TransferError(f"cannot inspect {dest} on the VM (exit {code}): {tail(err)}")
    tar_line, _, manifest = out.partition(b"\n")
    if tar_line.strip() != b"tar=1":
        raise errors.TransferError("the Windows VM has no tar.exe (Windows 10 1803 / Server 2019 or later "
                                   "ship it); install it or push with scp")
    remote = Manifest.from_bytes(manifest) if manifest.strip() else Manifest()
    work = plan(local, remote, root)
    files = sum(1 for p in work.send if local.entries[p].kind == "file")
    if not work.send and not work.delete:
        return PushSummary(dest, 0, 0, 0, work.unchanged, time.monotonic() - started, "none")
    push_id = uuid.uuid4().hex[:12]
    deletions = b"".join(p.encode("utf-8", "surrogateescape") + b"\0" for p in work.delete)
    code, _, err = run_script(session, windows.prepare_push(dest, push_id), stdin=deletions)
    if code != 0:
        raise_transfer(dest, code, err)
    channel = session.open_exec(windows.extract_tar(dest, push_id))
    counter, stderr = ByteCounter(), bytearray()
    try:
        sent = 0
        for chunk in tar_stream(root, local, work.send, HashCache(None), counter):
            channel.sendall(memoryview(chunk))
            sent += len(chunk)
            if progress:
                progress(sent)
        channel.shutdown_write()
        code = finish(channel, stderr, session, f"the push to {dest}")
    finally:
        channel.close()
    if code != 0:
        raise_transfer(dest, code, bytes(stderr))
    return PushSummary(dest, files, counter.file_bytes, len(work.delete), work.unchanged,
                       time.monotonic() - started, "tar")


# -- steps --------------------------------------------------------------------------------------


def _probe(session: "Session", paths: posix.DestPaths) -> tuple[bool, str, Manifest]:
    """Is tar there, what state is the destination in, and its stored manifest."""
    code, out, err = run_script(session, posix.probe_script(paths))
    if code != 0:
        raise errors.TransferError(f"cannot inspect {paths.remote_path} on the VM (exit {code}): {tail(err)}", err)
    tar_line, _, rest = out.partition(b"\n")
    state_line, _, manifest = rest.partition(b"\n")
    state = state_line.decode().strip().removeprefix("state=") or "-"
    if state == "foreign":
        raise errors.ForeignDestination(paths.remote_path)
    stored = Manifest.from_bytes(manifest) if manifest.strip() else Manifest()
    return tar_line.strip() == b"tar=1", state, stored


def _still_at(session: "Session", paths: posix.DestPaths, state: str) -> bool | None:
    """Is the destination still generation `state`, as the last push left it: `<name>` resolving
    to the real directory `<name>.gen-<state>` beside it, which holds the marker? Asked over the
    session's SFTP channel (three small requests, no remote shell to start); nothing is written,
    so an unchanged push needs no more. (Paths are resolved rather than the link read: some
    SFTP servers, asyncssh's chrooted one among them, cannot read a relative link.)
    None: cannot tell (no SFTP on this VM, no generation to look for); the caller asks with the
    push channel, whose script checks the same before it changes anything."""
    import paramiko

    if state in ("-", "foreign"):
        return None
    gen = f"{paths.name}.gen-{state}"
    with session.sftp_lock:  # one SFTP client, shared by the agent's requests
        try:
            sftp = session.sftp()
        except (errors.SessionClosed, paramiko.SFTPError):
            # No SFTP subsystem, or one that does not speak SFTP (a login script that prints
            # something corrupts the stream).
            if not session.active:
                raise errors.SessionClosed(f"checking {paths.remote_path}") from None
            return None
        try:
            parent = sftp.normalize(paths.parent)
            if sftp.normalize(posixpath.join(paths.parent, paths.name)) != posixpath.join(parent, gen):
                return False
            marker = sftp.lstat(posixpath.join(parent, gen, posix.MARKER))
            return stat.S_ISREG(marker.st_mode or 0)
        except OSError:  # no such path, ...: not the state we know
            return False
        except (paramiko.SSHException, paramiko.SFTPError, EOFError) as exc:  # the SFTP channel broke
            session.drop_sftp()
            if not session.active:
                raise errors.SessionClosed(f"checking {paths.remote_path}", str(exc)) from exc
            return None


def _prepare(session: "Session", paths: posix.DestPaths, delete: list[str]) -> None:
    deletions = b"".join(p.encode("utf-8", "surrogateescape") + b"\0" for p in delete)
    code, _, err = run_script(session, posix.prepare_script(paths), stdin=deletions)
    if code != 0:
        raise_transfer(paths.remote_path, code, err)


def _send_tar(
    session: "Session",
    paths: posix.DestPaths,
    channel: "paramiko.Channel",
    state: str,
    root: Path,
    local: Manifest,
    work: Plan,
    cache: HashCache,
    progress: ProgressCallback | None,
) -> int | None:
    """Feed a waiting push channel: header, deletions, tar stream (or just the state check when
    nothing changed). Returns file bytes sent, or None when the VM's state was not `state` or
    it has no tar (it then changed nothing)."""
    stderr = bytearray()
    counter = ByteCounter()
    try:
        try:
            if not work.send and not work.delete:
                channel.sendall(posix.check_header(state))
            else:
                channel.sendall(posix.push_header(state, work.delete))
                sent = 0
                for chunk in tar_stream(root, local, work.send, cache, counter):
                    # memoryview: paramiko's sendall re-slices the rest after every packet,
                    # which would copy a bytes chunk over and over.
                    channel.sendall(memoryview(chunk))
                    sent += len(chunk)
                    if channel.recv_stderr_ready():
                        stderr += channel.recv_stderr(65536)
                    if progress:
                        progress(sent)
            channel.shutdown_write()
        except OSError:
            pass  # the remote side stopped reading: its exit status and stderr say why
        code = finish(channel, stderr, session, f"the push to {paths.remote_path}")
    finally:
        channel.close()
    if code in (posix.STATE_CHANGED, posix.NO_TAR):
        return None
    if code != 0:
        raise_transfer(paths.remote_path, code, bytes(stderr))
    return counter.file_bytes


def _send_sftp(
    session: "Session",
    paths: posix.DestPaths,
    root: Path,
    local: Manifest,
    work: Plan,
    cache: HashCache,
    progress: ProgressCallback | None,
) -> int:
    sftp = session.sftp()
    base = posixpath.join(paths.parent, paths.stage)
    sent = 0
    try:
        for relpath in work.send:
            entry, target = local.entries[relpath], f"{base}/{relpath}"
            if entry.kind == "dir":
                try:
                    sftp.mkdir(target, entry.mode)
                except OSError:
                    sftp.chmod(target, entry.mode)  # already there (from the current generation)
            elif entry.kind == "link":
                _sftp_remove_quietly(sftp, target)
                sftp.symlink(entry.target, target)
            else:
                # Write beside and rename over: the old file may be a hard link shared with the
                # current generation, and must not be written through.
                part = target + ".dsvmctl-part"
                digest = hashlib.sha256()
                with open(root / relpath, "rb") as source, sftp.open(part, "wb") as remote_file:
                    remote_file.set_pipelined(True)
                    while chunk := source.read(CHUNK):
                        digest.update(chunk)
                        remote_file.write(chunk)
                        sent += len(chunk)
                        if progress:
                            progress(sent)
                sftp.chmod(part, entry.mode)
                mtime = entry.mtime_ns / 1e9
                sftp.utime(part, (mtime, mtime))
                sftp.posix_rename(part, target)
                entry.sha256 = digest.hexdigest()
                cache.put(relpath, entry.size, entry.mtime_ns, entry.sha256)
        with sftp.open(f"{base}/{posix.NEW_MANIFEST}", "wb") as remote_file:
            remote_file.write(local.to_bytes())
    except OSError as exc:
        session.run(f"rm -rf -- {posix._q(posixpath.join(paths.parent, paths.stage))}")
        if getattr(exc, "errno", None) == 28 or "No space" in str(exc):
            raise errors.RemoteDiskFull(paths.remote_path, str(exc)) from exc
        raise errors.TransferError(
            f"SFTP upload to {paths.remote_path} failed: {exc}. The previous tree is unchanged.", str(exc)
        ) from exc
    code, _, err = run_script(session, posix.finalize_script(paths))
    if code != 0:
        raise_transfer(paths.remote_path, code, err)
    return sent


def _skip(channel: "paramiko.Channel") -> None:
    """Release an unused push channel: "skip" makes its script exit without touching anything."""
    try:
        channel.sendall(posix.SKIP_HEADER)
        channel.shutdown_write()
    except (OSError, EOFError):
        pass
    finally:
        channel.close()


def _sftp_remove_quietly(sftp: "paramiko.SFTPClient", path: str) -> None:
    try:
        sftp.remove(path)
    except OSError:
        pass


# -- the tar stream -----------------------------------------------------------------------------


class ByteCounter:
    file_bytes = 0


def tar_stream(
    root: Path, local: Manifest, send: list[str], cache: HashCache, counter: ByteCounter
) -> Iterator[bytes]:
    """A ustar/pax archive of `send` (files hashed while read) ending with the new manifest.

    Small members are batched into ~1 MiB writes; big file bodies go out chunk by chunk.
    """
    batch = bytearray()
    now = int(time.time())
    for relpath in send:
        entry = local.entries[relpath]
        info = tarfile.TarInfo(relpath)
        info.mode = entry.mode
        if entry.kind == "dir":
            info.type, info.mtime = tarfile.DIRTYPE, now
        elif entry.kind == "link":
            info.type, info.linkname, info.mtime = tarfile.SYMTYPE, entry.target, now
        else:
            # Whole seconds: a fractional mtime would cost every member an extra pax header.
            info.size, info.mtime = entry.size, entry.mtime_ns // 10**9
        batch += _header(info)
        if entry.kind != "file":
            continue
        digest = hashlib.sha256()
        remaining = entry.size
        with open(root / relpath, "rb") as source:
            while remaining:
                chunk = source.read(min(CHUNK, remaining))
                if not chunk:
                    raise errors.TransferError(
                        f"{root / relpath} shrank while it was being pushed; nothing was switched. Push again."
                    )
                digest.update(chunk)
                remaining -= len(chunk)
                if len(chunk) >= CHUNK // 2:
                    if batch:
                        yield bytes(batch)
                        batch.clear()
                    yield chunk
                else:
                    batch += chunk
        batch += b"\0" * (-entry.size % BLOCK)
        counter.file_bytes += entry.size
        entry.sha256 = digest.hexdigest()
        cache.put(relpath, entry.size, entry.mtime_ns, entry.sha256)
        if len(batch) >= CHUNK:
            yield bytes(batch)
            batch.clear()
    # The manifest goes last: its presence in staging proves the whole archive arrived.
    manifest = local.to_bytes()
    info = tarfile.TarInfo(posix.NEW_MANIFEST)
    info.size, info.mode, info.mtime = len(manifest), 0o644, now
    batch += _header(info) + manifest + b"\0" * (-len(manifest) % BLOCK)
    batch += b"\0" * (2 * BLOCK)
    yield bytes(batch)


def _header(info: tarfile.TarInfo) -> bytes:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info.tobuf(format=tarfile.PAX_FORMAT, encoding="utf-8", errors="surrogateescape")


# -- fetch --------------------------------------------------------------------------------------


def fetch(session: "Session", remote_paths: list[str] | str, local_dir: str | Path, *,
          limits: FetchLimits = DEFAULT_LIMITS) -> FetchSummary:
    """Copy files or directories from the VM into `local_dir` (each under its base name), as one
    tar stream. Relative remote paths are relative to the remote home. The VM is not trusted:
    only regular files and directories, checked and written by `untar.unpack` (see there)."""
    started = time.monotonic()
    wanted = [remote_paths] if isinstance(remote_paths, str) else list(remote_paths)
    target = Path(local_dir)
    target.mkdir(parents=True, exist_ok=True)
    channel = session.open_exec(posix.fetch_script(wanted))
    channel.shutdown_write()
    reader = ChannelReader(channel)
    try:
        try:
            unpacked = unpack(reader, target, limits=limits)
        except errors.TransferError:
            if reader.received:  # a broken archive, not an empty one (the VM's exit status says why)
                raise
            unpacked = Unpacked()
        code = finish(channel, reader.stderr, session, "the fetch")
    finally:
        channel.close()
    err = bytes(reader.stderr).decode("utf-8", "replace")
    if code == 4 and "missing:" in err:
        raise errors.RemotePathNotFound([p for p in err.split("missing:", 1)[1].splitlines() if p])
    if code != 0:
        raise errors.TransferError(f"fetch failed on the VM (exit {code}): {tail(err.encode())}", err)
    return FetchSummary(str(target), unpacked.files, reader.received, time.monotonic() - started)


def fetch_windows(session: "Session", remote_dir: str, local_dir: str | Path, *,
                  limits: FetchLimits = DEFAULT_LIMITS) -> FetchSummary:
    """The contents of one directory of a Windows host (tar.exe there) into `local_dir`, with the
    same checks as `fetch` (the archive's top directory, the remote base name, is stripped)."""
    started = time.monotonic()
    target = Path(local_dir)
    target.mkdir(parents=True, exist_ok=True)
    channel = session.open_exec(windows.fetch_tar([remote_dir]))
    channel.shutdown_write()
    reader = ChannelReader(channel)
    try:
        try:
            unpacked = unpack(reader, target, limits=limits, strip=1)
        except errors.TransferError:
            if reader.received:
                raise
            unpacked = Unpacked()
        code = finish(channel, reader.stderr, session, "the fetch")
    finally:
        channel.close()
    if code != 0:
        raise errors.RemotePathNotFound([remote_dir])
    return FetchSummary(str(target), unpacked.files, reader.received, time.monotonic() - started)


class ChannelReader(io.RawIOBase):
    """stdout of a channel as a readable stream; stderr is collected on the side."""

    def __init__(self, channel: "paramiko.Channel"):
        self.channel = channel
        self.stderr = bytearray()
        self.received = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        while True:
            if self.channel.recv_stderr_ready():
                self.stderr += self.channel.recv_stderr(65536)
            if self.channel.recv_ready() or self.channel.eof_received or self.channel.closed:
                data = self.channel.recv(len(buffer))
                buffer[: len(data)] = data
                self.received += len(data)
                return len(data)
            select.select([self.channel], [], [], 0.5)

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            chunks = []
            while chunk := self.read(CHUNK):
                chunks.append(chunk)
            return b"".join(chunks)
        buffer = bytearray(size)
        got = self.readinto(buffer)
        return bytes(buffer[:got])


# -- helpers ------------------------------------------------------------------------------------


def run_script(session: "Session", script: str, stdin: bytes | None = None) -> tuple[int, bytes, bytes]:
    """Run one of our own short scripts on a bare channel (no process-group wrapper: closing
    the channel is enough to end them, and it saves a shell start)."""
    return _collect(session, _start(session, script, stdin))


def _start(session: "Session", script: str, stdin: bytes | None = None) -> "paramiko.Channel":
    channel = session.open_exec(script)
    try:
        if stdin:
            channel.sendall(memoryview(stdin))
        channel.shutdown_write()
    except BaseException:
        channel.close()
        raise
    return channel


def _collect(session: "Session", channel: "paramiko.Channel") -> tuple[int, bytes, bytes]:
    out, err = bytearray(), bytearray()
    code = pump(channel, session.transport, stdout=out.extend, stderr=err.extend, label="a push step")
    return code, bytes(out), bytes(err)


def finish(channel: "paramiko.Channel", stderr: bytearray, session: "Session", what: str) -> int:
    """Wait for the command's exit status, collecting stderr; a dropped connection raises."""
    while not channel.exit_status_ready():
        if channel.recv_stderr_ready():
            stderr += channel.recv_stderr(65536)
        elif channel.recv_ready():
            channel.recv(65536)
        elif channel.exit_status_ready():
            break  # the status (and the close) arrived since the loop's test: not a lost connection
        elif not session.transport.is_active():
            raise errors.SessionClosed(what)
        else:
            select.select([channel], [], [], 0.2)
    while channel.recv_stderr_ready():
        stderr += channel.recv_stderr(65536)
    return channel.recv_exit_status()


def raise_transfer(dest: str, code: int, stderr: bytes) -> None:
    """The error for a failed push step (exit `code`, its stderr); the tree is unchanged."""
    text = stderr.decode("utf-8", "replace")
    if code == posix.FOREIGN:
        raise errors.ForeignDestination(dest, text)
    if code == posix.OUTSIDE_HOME:
        raise errors.OutsideHome(dest, text)
    if "No space left on device" in text or "Disk quota exceeded" in text:
        raise errors.RemoteDiskFull(dest, text)
    raise errors.TransferError(
        f"the push to {dest} failed on the VM (exit {code}): {tail(stderr)}. The previous tree is unchanged.",
        text,
    )


def tail(stderr: bytes, lines: int = 5) -> str:
    text = stderr.decode("utf-8", "replace").strip()
    return " | ".join(text.splitlines()[-lines:]) or "no error output"
