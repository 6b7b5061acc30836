"""Helpers for the remote tests: key pairs, the server under test, tree snapshots."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


@dataclass(frozen=True)
class KeyPair:
    private_path: Path
    private_pem: str
    public_line: str


def make_keypair(directory: Path, name: str) -> KeyPair:
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    ).decode()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    path = directory / name
    path.write_text(pem)
    path.chmod(0o600)
    (directory / f"{name}.pub").write_text(public + "\n")
    return KeyPair(path, pem, public)


@dataclass(frozen=True)
class Keys:
    host: KeyPair
    client: KeyPair
    other: KeyPair  # a valid key the servers do not accept / a host key nobody presents


@dataclass
class Target:
    """One SSH server under test and where its files land on this machine."""

    kind: str
    port: int
    user: str
    keys: Keys
    remote_base: str  # how the remote side names the test area
    local_base: Path  # the same area seen from here

    def connect(self, **overrides):
        from dsvmctl.remote import connect

        options = dict(host_key=self.keys.host.public_line, timeout=5.0)
        options.update(overrides)
        key = options.pop("key", self.keys.client.private_path)
        return connect("127.0.0.1", self.port, self.user, key, **options)

    def area(self) -> tuple[str, Path]:
        """A fresh (remote path, local path) pair for one test."""
        name = uuid.uuid4().hex[:8]
        return f"{self.remote_base}/{name}", self.local_base / name


def tree_snapshot(root: Path) -> dict[str, object]:
    """relative path -> bytes (files), ('link', target) or 'dir'; the stored manifest and the
    generation marker left out."""
    snapshot: dict[str, object] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if rel in (".dsvmctl-manifest.json", ".dsvmctl-generation"):
            continue
        if path.is_symlink():
            snapshot[rel] = ("link", str(path.readlink()))
        elif path.is_dir():
            snapshot[rel] = "dir"
        else:
            snapshot[rel] = path.read_bytes()
    return snapshot


def make_tree(root: Path, files: dict[str, bytes | str]) -> Path:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    return root
