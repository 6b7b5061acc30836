"""A throwaway OpenSSH server on loopback, for the remote tests and the push benchmark.

It runs as whoever starts it (root in CI, so the login user is root), with its own host key,
an AuthorizedKeysFile in a temp directory, key auth only, and the internal SFTP server.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

SSHD = "/usr/sbin/sshd"


def sshd_available() -> bool:
    return os.access(SSHD, os.X_OK)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class OpenSSHServer:
    def __init__(self, workdir: Path, host_key_path: Path, authorized_keys: list[str]):
        self.workdir = Path(workdir)
        self.host_key_path = Path(host_key_path)
        self.authorized_keys = authorized_keys
        self.port = 0
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 10.0) -> int:
        self.workdir.mkdir(parents=True, exist_ok=True)
        authorized = self.workdir / "authorized_keys"
        authorized.write_text("\n".join(self.authorized_keys) + "\n")
        os.chmod(self.host_key_path, 0o600)
        self.port = free_port()
        config = self.workdir / "sshd_config"
        config.write_text(
            "\n".join(
                [
                    f"Port {self.port}",
                    "ListenAddress 127.0.0.1",
                    f"HostKey {self.host_key_path}",
                    f"AuthorizedKeysFile {authorized}",
                    f"PidFile {self.workdir / 'sshd.pid'}",
                    "StrictModes no",
                    "PermitRootLogin prohibit-password",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "UsePAM no",
                    "PrintMotd no",
                    "MaxStartups 100",
                    "MaxSessions 100",
                    "Subsystem sftp internal-sftp",
                ]
            )
            + "\n"
        )
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(parents=True, exist_ok=True)  # privilege-separation dir
        log = open(self.workdir / "sshd.log", "ab")
        self.process = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"sshd exited: {(self.workdir / 'sshd.log').read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    if sock.recv(4).startswith(b"SSH-"):
                        return self.port
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("sshd did not start in time")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process = None


def ssh_tools_available() -> bool:
    return all(shutil.which(tool) for tool in ("ssh", "scp", "rsync"))
