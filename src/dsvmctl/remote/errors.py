"""Errors of the SSH side, each with a message written for the user: what, why, how to fix.

No paramiko import here: the CLI imports these to map exceptions to exit codes without paying
for the SSH stack.
"""

from __future__ import annotations


class RemoteError(Exception):
    """Base class of every error raised by `dsvmctl.remote`.

    `exit_code` is what the CLI exits with when this error reaches it.
    """

    exit_code = 20

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class HostUnreachable(RemoteError):
    """Nothing answered SSH at host:port (refused, timed out, no route)."""

    exit_code = 21

    def __init__(self, host: str, port: int, attempts: int, reason: str):
        super().__init__(
            f"cannot reach SSH at {host}:{port} after {attempts} attempt(s): {reason}. "
            "Is the VM running? Start it first (or wait for it to finish booting) and retry."
        )
        self.host, self.port, self.attempts, self.reason = host, port, attempts, reason


class HostKeyMismatch(RemoteError):
    """The server presented a host key other than the pinned one."""

    exit_code = 22

    def __init__(self, host: str, port: int, expected: str, presented: str):
        super().__init__(
            f"host key of {host}:{port} does not match the pinned key: expected {expected}, "
            f"the server presented {presented}. The connection was refused before any "
            "credential was sent. If the VM was re-created, refresh its host key from the "
            "deployment; otherwise someone may be intercepting the connection."
        )
        self.host, self.port = host, port
        self.expected, self.presented = expected, presented


class AuthError(RemoteError):
    """The server refused our key."""

    exit_code = 23

    def __init__(self, host: str, port: int, user: str, key_fingerprint: str, detail: str = ""):
        extra = f" ({detail})" if detail else ""
        super().__init__(
            f"{user}@{host}:{port} refused the SSH key {key_fingerprint}{extra}. "
            "Check that the VM was provisioned with this key's public half for this user, "
            "or pass the matching private key."
        )
        self.host, self.port, self.user = host, port, user
        self.key_fingerprint = key_fingerprint


class KeyFileError(RemoteError):
    """The local private key could not be read."""

    exit_code = 24


class SessionClosed(RemoteError):
    """The connection dropped while an operation was running."""

    exit_code = 25

    def __init__(self, what: str, detail: str = ""):
        extra = f": {detail}" if detail else ""
        super().__init__(
            f"the SSH connection closed during {what}{extra}. "
            "Check that the VM is still running, then retry (a push resumes where it stopped "
            "and never leaves a half-updated tree)."
        )


class CommandTimeout(RemoteError):
    """A remote command ran longer than its timeout; it was stopped."""

    exit_code = 26

    def __init__(self, command: str, timeout: float, killed: bool):
        how = "its process group was stopped" if killed else "it could not be stopped cleanly"
        super().__init__(
            f"remote command timed out after {timeout:g} s and {how}: {command!r}. "
            "Raise the timeout or make the command faster."
        )
        self.command, self.timeout, self.killed = command, timeout, killed


class TransferError(RemoteError):
    """A push or fetch failed on the remote side; the remote tree is left as it was."""

    exit_code = 27

    def __init__(self, message: str, remote_stderr: str = ""):
        super().__init__(message)
        self.remote_stderr = remote_stderr


class RemoteDiskFull(TransferError):
    """The remote disk ran out of space during a push; nothing was switched."""

    exit_code = 28

    def __init__(self, dest: str, remote_stderr: str = ""):
        super().__init__(
            f"the VM's disk is full: the push to {dest} could not be written, so the previous "
            "tree was kept unchanged and the partial copy removed. Free space on the VM "
            "(or grow its OS disk), then push again.",
            remote_stderr,
        )
        self.dest = dest


class RemotePathNotFound(TransferError):
    """A path asked for by fetch does not exist on the VM."""

    exit_code = 29

    def __init__(self, paths: list[str]):
        super().__init__(
            "not found on the VM: " + ", ".join(paths) + ". Check the path (relative paths "
            "are relative to the remote user's home) and that the run produced it."
        )
        self.paths = paths


class BadDestination(RemoteError, ValueError):
    """A push destination dsvmctl refuses before connecting (home itself, absolute, `..`)."""

    exit_code = 2

    def __init__(self, dest: str, reason: str):
        super().__init__(
            f"refusing to push onto {dest!r}: {reason}. Give a directory below the VM user's home, "
            "e.g. `--dest projects/mine` (a `~/` prefix is fine; quote it so your shell does not expand it)."
        )
        self.dest, self.reason = dest, reason


class ForeignDestination(TransferError):
    """The push destination exists on the VM and is not a tree dsvmctl pushed."""

    exit_code = 31

    def __init__(self, dest: str, detail: str = ""):
        super().__init__(
            f"{dest} exists on the VM and was not made by `dsvmctl push` (no dsvmctl generation marker), so the "
            "push changed nothing: dsvmctl never replaces or deletes a directory it did not create. Push to "
            "another --dest, or move that directory away on the VM first.",
            detail,
        )
        self.dest = dest


class OutsideHome(TransferError):
    """A confined push destination resolves (through a link on the VM) outside the home."""

    exit_code = 2

    def __init__(self, dest: str, detail: str = ""):
        super().__init__(
            f"{dest} resolves outside the VM user's home on the VM (a link on the way?): nothing was changed. "
            f"Push below the home, or pass --dest-absolute if that is really meant. ({detail.strip()})",
            detail,
        )
        self.dest = dest
