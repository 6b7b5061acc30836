"""One SSH connection to a VM (paramiko): pinned host key, key auth, exec with live streams.

How a remote command is stopped (timeout, Ctrl-C): every command is wrapped as

    printf 'dsvmctl-pgid:%s\\n' "$$"; exec "${SHELL:-/bin/sh}" -c '<command>'

OpenSSH's sshd (and our LocalVMHost) starts each session's shell with setsid(), so the shell's
pid is also its process-group id; `exec` keeps that pid for the user's command, and children
stay in the group (non-interactive shells have no job control). The first stdout line carries
that id and is stripped before the caller sees stdout. To stop the command we open a second
channel on the same connection and run `kill -TERM -- -<pgid>`, wait a grace period, then
`kill -KILL`. Closing the channel alone would not do it: without a pty, sshd sends no SIGHUP.
"""

from __future__ import annotations

import io
import shlex
import socket
import threading
import time
from pathlib import Path
from typing import IO, Any, Callable, NamedTuple, Union

import paramiko

from dsvmctl.remote import errors
from dsvmctl.remote.channel import READ_CHUNK, pump, sink
from dsvmctl.remote.hostkeys import fingerprint_of_blob, normalize_fingerprint, parse_public_key

# Big windows keep a fast link busy: paramiko's 2 MiB default stalls bulk transfers on the
# window-adjust round trip. The server caps the packet size it receives at its own value.
WINDOW_SIZE = 64 * 2**20
MAX_PACKET_SIZE = 2**18
# AES-GCM is the cheapest cipher for paramiko (one pass, AES-NI via cryptography); OpenSSH
# has it everywhere. The rest of paramiko's defaults follow as fallbacks.
PREFERRED_CIPHERS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com", "aes128-ctr", "aes256-ctr")

PGID_MARK = b"dsvmctl-pgid:"

# Host key algorithms that can present a pinned key of a given type.
_HOST_KEY_ALGORITHMS = {
    "ssh-rsa": ("rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"),
}

Target = Union[None, Callable[[bytes], Any], IO[bytes], IO[str]]
StdinSource = Union[None, bytes, str, IO[bytes]]


class CommandResult(NamedTuple):
    """What `Session.run` returns; unpacks as `(code, out, err)`."""

    code: int
    out: str
    err: str


def _load_key(key: Union[str, Path, "paramiko.PKey"]) -> "paramiko.PKey":
    if isinstance(key, paramiko.PKey):
        return key
    try:
        return paramiko.PKey.from_path(str(key))
    except FileNotFoundError as exc:
        raise errors.KeyFileError(f"SSH private key not found: {key}. Pass the key the VM was provisioned with.") from exc
    except (paramiko.SSHException, ValueError, OSError) as exc:
        raise errors.KeyFileError(
            f"cannot read SSH private key {key}: {exc}. Use an unencrypted OpenSSH/PEM private key."
        ) from exc


def connect(
    host: str,
    port: int = 22,
    user: str = "azureuser",
    key: Union[str, Path, "paramiko.PKey", None] = None,
    *,
    host_key: str | None = None,
    host_key_fingerprint: str | None = None,
    timeout: float = 10.0,
    retries: int = 0,
    backoff: float = 0.5,
    max_backoff: float = 5.0,
    keepalive: float = 15.0,
) -> "Session":
    """Open an SSH session to `user@host:port`, authenticating with `key` only.

    The server's host key must match `host_key` (an OpenSSH public key line, preferred: it also
    pins the algorithm) or `host_key_fingerprint` ("SHA256:..."); anything else is refused
    before any credential is sent. While the host boots (refused, reset, no banner yet) the
    attempt is retried `retries` times with exponential backoff from `backoff` seconds.
    """
    if (host_key is None) == (host_key_fingerprint is None):
        raise ValueError("pass exactly one of host_key or host_key_fingerprint (no trust on first use)")
    if key is None:
        raise ValueError("an SSH private key is required (key auth only)")
    pinned_blob = None
    key_types = None
    if host_key is not None:
        pinned = parse_public_key(host_key)
        pinned_blob = pinned.blob
        expected = pinned.fingerprint
        key_types = _HOST_KEY_ALGORITHMS.get(pinned.key_type, (pinned.key_type,))
    else:
        expected = normalize_fingerprint(host_key_fingerprint or "")
    pkey = _load_key(key)

    attempts = retries + 1
    last_reason = ""
    for attempt in range(attempts):
        if attempt:
            time.sleep(min(max_backoff, backoff * 2 ** (attempt - 1)))
        try:
            sock = socket.create_connection((host, port), timeout=timeout)
        except OSError as exc:
            last_reason = _describe_socket_error(exc)
            continue
        # Without this, Nagle + delayed ACK add ~40 ms to every channel open.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        transport = paramiko.Transport(
            sock, default_window_size=WINDOW_SIZE, default_max_packet_size=MAX_PACKET_SIZE
        )
        options = transport.get_security_options()
        options.ciphers = tuple(c for c in PREFERRED_CIPHERS if c in options.ciphers) + tuple(
            c for c in options.ciphers if c not in PREFERRED_CIPHERS
        )
        # Ask only for the pinned key's algorithm: a server with several host keys would
        # otherwise present another one and look like a mismatch.
        if key_types and any(k in options.key_types for k in key_types):
            options.key_types = tuple(k for k in key_types if k in options.key_types)
        transport.banner_timeout = timeout
        transport.handshake_timeout = timeout
        transport.auth_timeout = timeout
        try:
            transport.start_client(timeout=timeout)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            # A booting VM accepts TCP before sshd is ready, or resets it: retry.
            transport.close()
            last_reason = f"SSH handshake failed ({exc or type(exc).__name__})"
            continue

        presented_key = transport.get_remote_server_key()
        presented_blob = presented_key.asbytes()
        presented = fingerprint_of_blob(presented_blob)
        matches = presented_blob == pinned_blob if pinned_blob is not None else presented == expected
        if not matches:
            transport.close()
            raise errors.HostKeyMismatch(host, port, expected, presented)

        try:
            transport.auth_publickey(user, pkey)
        except paramiko.BadAuthenticationType as exc:
            transport.close()
            raise errors.AuthError(
                host, port, user, pkey.fingerprint, f"server allows only: {', '.join(exc.allowed_types)}"
            ) from exc
        except paramiko.AuthenticationException as exc:
            transport.close()
            raise errors.AuthError(host, port, user, pkey.fingerprint) from exc
        except (paramiko.SSHException, EOFError, OSError) as exc:
            transport.close()
            last_reason = f"connection lost during authentication ({exc})"
            continue
        if keepalive:
            transport.set_keepalive(int(max(1, keepalive)))
        return Session(transport, host=host, port=port, user=user)
    raise errors.HostUnreachable(host, port, attempts, last_reason)


def _describe_socket_error(exc: OSError) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timed out"
    return exc.strerror or str(exc) or type(exc).__name__


def wrap_command(command: str) -> str:
    """The remote line that reports the process-group id, then runs `command` in the same shell
    (sshd's, the user's login shell). `eval`, not `exec $SHELL -c`: a second shell would read
    the user's startup files again (bash sources ~/.bashrc under sshd; on a DSVM that is conda's
    set-up, paid twice per command)."""
    return f"printf '{PGID_MARK.decode()}%s\\n' \"$$\"; eval {shlex.quote(command)}"


def kill_group_command(pgid: int, grace: float) -> str:
    """TERM the group, wait up to `grace` seconds for it to go, then KILL what is left."""
    steps = max(1, int(grace / 0.1))
    return (
        f"p={int(pgid)}; kill -TERM -- -$p 2>/dev/null || exit 0; i=0; "
        f"while [ $i -lt {steps} ]; do kill -0 -- -$p 2>/dev/null || exit 0; sleep 0.1; i=$((i+1)); done; "
        "kill -KILL -- -$p 2>/dev/null; exit 0"
    )


class Session:
    """An authenticated SSH connection; reuse it for all of one command's operations."""

    def __init__(self, transport: "paramiko.Transport", *, host: str, port: int, user: str):
        self.transport = transport
        self.host, self.port, self.user = host, port, user
        self._sftp: "paramiko.SFTPClient | None" = None
        # The SFTP client is one request/reply stream: whoever shares this session across
        # threads (the agent) takes turns with it.
        self.sftp_lock = threading.RLock()

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def active(self) -> bool:
        return self.transport.is_active()

    def close(self) -> None:
        if self._sftp is not None:
            try:
                self._sftp.close()
            except Exception:  # noqa: BLE001 - closing a dead SFTP channel may fail; we are leaving anyway
                pass
            self._sftp = None
        self.transport.close()

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- channels --------------------------------------------------------------------------

    def open_exec(self, command: str) -> "paramiko.Channel":
        """A raw channel running `command` as given (no wrapper); for bulk streams."""
        try:
            channel = self.transport.open_session(window_size=WINDOW_SIZE, max_packet_size=MAX_PACKET_SIZE)
            channel.exec_command(command)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise errors.SessionClosed(f"starting {command[:60]!r}", str(exc)) from exc
        return channel

    def sftp(self) -> "paramiko.SFTPClient":
        if self._sftp is None:
            try:
                self._sftp = paramiko.SFTPClient.from_transport(
                    self.transport, window_size=WINDOW_SIZE, max_packet_size=MAX_PACKET_SIZE
                )
            except (paramiko.SSHException, EOFError, OSError) as exc:
                raise errors.SessionClosed("opening SFTP", str(exc)) from exc
        return self._sftp

    def drop_sftp(self) -> None:
        """Forget a broken SFTP client; the next sftp() opens a new one."""
        sftp, self._sftp = self._sftp, None
        if sftp is not None:
            try:
                sftp.close()
            except Exception:  # noqa: BLE001 - it is broken already
                pass

    # -- commands --------------------------------------------------------------------------

    def exec(
        self,
        command: str,
        *,
        stdout: Target = None,
        stderr: Target = None,
        stdin: StdinSource = None,
        timeout: float | None = None,
        kill_grace: float = 2.0,
        cancel: threading.Event | None = None,
    ) -> int:
        """Run `command` in the remote login shell, streaming stdout/stderr live; return its exit code.

        `stdout`/`stderr` take a callback `f(bytes)`, a binary stream or a text stream (None
        discards). `stdin` takes bytes, str or a binary file (None: stdin is closed at once).
        On timeout (CommandTimeout) or KeyboardInterrupt the remote process group is stopped
        first. A command the shell cannot find returns 127, as in any shell. `cancel` set from
        another thread acts as Ctrl-C (the agent sets it when its client goes away).
        """
        channel = self.open_exec(wrap_command(command))
        writer = _start_stdin_writer(channel, stdin)
        try:
            return pump(channel, self.transport, stdout=sink(stdout), stderr=sink(stderr), label=command,
                        timeout=timeout, mark=PGID_MARK, stop=lambda pgid: self._stop_group(pgid, kill_grace), cancel=cancel)
        finally:
            if writer is not None:
                writer.join(timeout=1)

    def run(self, command: str, *, stdin: StdinSource = None, timeout: float | None = None) -> CommandResult:
        """Run `command`, collect its output: `code, out, err = session.run("...")`."""
        out, err = io.BytesIO(), io.BytesIO()
        code = self.exec(command, stdout=out.write, stderr=err.write, stdin=stdin, timeout=timeout)
        return CommandResult(code, out.getvalue().decode("utf-8", "replace"), err.getvalue().decode("utf-8", "replace"))

    def _stop_group(self, pgid: int | None, grace: float) -> bool:
        """Stop the remote process group over a fresh channel; True when the kill ran."""
        if pgid is None or not self.transport.is_active():
            return False
        try:
            channel = self.open_exec(kill_group_command(pgid, grace))
            channel.settimeout(grace + 5)
            channel.recv_exit_status()
            channel.close()
            return True
        except (errors.RemoteError, OSError, paramiko.SSHException):
            return False


def _start_stdin_writer(channel: "paramiko.Channel", stdin: StdinSource) -> threading.Thread | None:
    """Feed stdin from a thread so a command that writes a lot cannot deadlock against us.

    Data goes in as memoryviews: paramiko's sendall slices what is left after each packet,
    which copies the rest of a bytes object every time (quadratic in the chunk size)."""
    if stdin is None:
        channel.shutdown_write()
        return None
    if isinstance(stdin, str):
        stdin = stdin.encode()

    def feed() -> None:
        try:
            if isinstance(stdin, (bytes, bytearray, memoryview)):
                channel.sendall(memoryview(stdin))
            else:
                while chunk := stdin.read(READ_CHUNK):  # type: ignore[union-attr]
                    channel.sendall(memoryview(chunk))
            channel.shutdown_write()
        except (OSError, EOFError, paramiko.SSHException):
            pass  # the command exited or the channel closed; exec reports what happened

    thread = threading.Thread(target=feed, name="dsvmctl-ssh-stdin", daemon=True)
    thread.start()
    return thread
