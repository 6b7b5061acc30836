"""Host key pinning helpers: parse OpenSSH public key lines, print fingerprints as OpenSSH does.

Pure functions (base64 + hashlib), so they are cheap to import and easy to test.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass


@dataclass(frozen=True)
class PublicKey:
    """An OpenSSH public key: its algorithm name and the raw key blob."""

    key_type: str
    blob: bytes

    @property
    def fingerprint(self) -> str:
        return fingerprint_of_blob(self.blob)

    def line(self) -> str:
        return f"{self.key_type} {base64.b64encode(self.blob).decode()}"


def fingerprint_of_blob(blob: bytes) -> str:
    """`SHA256:<base64 without padding>`, the form `ssh-keygen -l` and OpenSSH errors print."""
    digest = hashlib.sha256(blob).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def parse_public_key(line: str) -> PublicKey:
    """Parse `ssh-ed25519 AAAA... [comment]` (an authorized_keys or .pub line, no options)."""
    parts = line.strip().split()
    if len(parts) < 2:
        raise ValueError(f"not an OpenSSH public key line: {line!r}")
    key_type, b64 = parts[0], parts[1]
    try:
        blob = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"public key is not valid base64: {line!r}") from exc
    # The blob starts with the algorithm name as an SSH string; checking it catches pasted
    # keys whose type field was edited or truncated.
    if len(blob) < 4:
        raise ValueError(f"public key blob too short: {line!r}")
    name_len = int.from_bytes(blob[:4], "big")
    blob_type = blob[4 : 4 + name_len].decode("ascii", "replace")
    if blob_type != key_type:
        raise ValueError(f"public key says {key_type!r} but its blob is {blob_type!r}")
    return PublicKey(key_type, blob)


def normalize_fingerprint(text: str) -> str:
    """Accept `SHA256:abc`, `sha256:abc` or `abc` (with or without `=` padding)."""
    value = text.strip()
    if value.lower().startswith("sha256:"):
        value = value[len("sha256:") :]
    value = value.rstrip("=")
    try:
        raw = base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"not a SHA256 fingerprint: {text!r}") from exc
    if len(raw) != 32:
        raise ValueError(f"not a SHA256 fingerprint (wrong length): {text!r}")
    return "SHA256:" + value
