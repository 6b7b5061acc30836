"""Manifests: what a tree holds (relative path -> type, size, mtime, mode, sha256) and what changed.

The local side is scanned with the ignore rules; sha256 values are cached by (size, mtime_ns)
so an unchanged re-push reads no file contents. The remote side is the manifest the last push
stored next to the tree; it is trusted (the remote files are not re-hashed).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from dsvmctl.paths import write_atomic
from dsvmctl.remote import memo
from dsvmctl.remote.ignore import IgnoreRules

MANIFEST_NAME = ".dsvmctl-manifest.json"
MANIFEST_VERSION = 1
HASH_CHUNK = 2**20


@dataclass
class Entry:
    """One path of a tree. `kind` is "file", "dir" or "link"; sha256 is None until computed."""

    kind: str
    mode: int = 0o644
    size: int = 0
    mtime_ns: int = 0
    sha256: str | None = None
    target: str = ""  # symlink target

    def to_json(self) -> dict:
        data: dict = {"type": self.kind, "mode": self.mode}
        if self.kind == "file":
            data.update(size=self.size, mtime_ns=self.mtime_ns, sha256=self.sha256)
        elif self.kind == "link":
            data["target"] = self.target
        return data

    @classmethod
    def from_json(cls, data: dict) -> "Entry":
        return cls(
            kind=data["type"],
            mode=int(data.get("mode", 0o644)),
            size=int(data.get("size", 0)),
            mtime_ns=int(data.get("mtime_ns", 0)),
            sha256=data.get("sha256"),
            target=data.get("target", ""),
        )


@dataclass
class Manifest:
    entries: dict[str, Entry] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        return json.dumps(self.to_json(), separators=(",", ":")).encode()

    def to_json(self) -> dict:
        return {"version": MANIFEST_VERSION, "entries": {p: e.to_json() for p, e in sorted(self.entries.items())}}

    @classmethod
    def from_bytes(cls, raw: bytes) -> "Manifest":
        """Parse a stored manifest; anything unreadable counts as empty (the push sends all)."""
        try:
            return cls.from_json(json.loads(raw))
        except ValueError:
            return cls()

    @classmethod
    def from_json(cls, body: object) -> "Manifest":
        if not isinstance(body, dict) or body.get("version") != MANIFEST_VERSION:
            return cls()
        try:
            return cls({p: Entry.from_json(e) for p, e in body["entries"].items()})
        except (ValueError, KeyError, TypeError, AttributeError):
            return cls()


@dataclass
class Plan:
    """What a push must do: paths to send (in tree order), paths to delete, and what stays."""

    send: list[str]
    delete: list[str]
    unchanged: int


class HashCache:
    """sha256 by (relative path, size, mtime_ns), kept in a JSON file between pushes (and, in a
    long-lived process, in memory while that file stays the same: see memo.py)."""

    def __init__(self, path: Path | None):
        self.path = path
        self._data: dict[str, list] = {}
        self._dirty = False
        if path is not None:
            self._data = dict(memo.load(path, _parse_hashes) or {})  # a copy: put() must not touch the shared one

    def get(self, relpath: str, size: int, mtime_ns: int) -> str | None:
        hit = self._data.get(relpath)
        if hit and hit[0] == size and hit[1] == mtime_ns:
            return hit[2]
        return None

    def put(self, relpath: str, size: int, mtime_ns: int, sha256: str) -> None:
        value = [size, mtime_ns, sha256]
        if self._data.get(relpath) != value:
            self._data[relpath] = value
            self._dirty = True

    def save(self, live_paths: set[str]) -> None:
        """Write the hashes of `live_paths` back, unless that is what the file already holds."""
        if self.path is None:
            return
        if not live_paths.issuperset(self._data):  # files deleted since: drop their hashes
            self._data = {p: v for p, v in self._data.items() if p in live_paths}
            self._dirty = True
        if self._dirty or not self.path.is_file():
            write_atomic(self.path, json.dumps(self._data, separators=(",", ":")))
            self._dirty = False


def _parse_hashes(raw: bytes) -> dict[str, list]:
    try:
        data = json.loads(raw)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def scan(root: Path, rules: IgnoreRules, cache: HashCache | None = None) -> Manifest:
    """Walk `root` (not following symlinks) into a manifest, in tree order (a directory before
    its contents, names sorted); hashes come from the cache or stay None.

    The walk of an unchanged tree is most of what an unchanged re-push costs, so it is one
    plain recursive function (no generator chain, one stat per entry)."""
    entries: dict[str, Entry] = {}
    lookup = cache.get if cache is not None else None

    def visit(prefix: str, directory: str) -> None:
        with os.scandir(directory) as listing:
            children = sorted(listing, key=_name)
        for child in children:
            if not prefix and child.name == MANIFEST_NAME:
                continue  # reserved for the stored manifest
            relpath = prefix + child.name
            st = child.stat(follow_symlinks=False)
            kind = stat.S_IFMT(st.st_mode)
            if kind == stat.S_IFREG:
                if rules and rules.ignored(relpath, False):
                    continue
                size, mtime = st.st_size, st.st_mtime_ns
                sha = lookup(relpath, size, mtime) if lookup else None
                entries[relpath] = Entry("file", stat.S_IMODE(st.st_mode), size, mtime, sha)
            elif kind == stat.S_IFDIR:
                if rules and rules.ignored(relpath, True):
                    continue
                entries[relpath] = Entry("dir", stat.S_IMODE(st.st_mode))
                visit(relpath + "/", child.path)
            elif kind == stat.S_IFLNK:
                if rules and rules.ignored(relpath, False):
                    continue
                entries[relpath] = Entry("link", 0o777, target=os.readlink(child.path))
            # sockets, fifos, devices are not pushed

    visit("", os.fspath(root))
    return Manifest(entries)


def _name(entry: os.DirEntry) -> str:
    return entry.name


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def plan(local: Manifest, remote: Manifest, root: Path, cache: HashCache | None = None) -> Plan:
    """Decide what to send and delete. Hashes a local file only when size, type and mode all
    match the remote entry (otherwise it must be sent anyway and is hashed while streaming)."""
    send: list[str] = []
    unchanged = 0
    for relpath, entry in local.entries.items():
        old = remote.entries.get(relpath)
        if old is None or old.kind != entry.kind or old.mode != entry.mode:
            send.append(relpath)
            continue
        if entry.kind == "dir":
            unchanged += 1
        elif entry.kind == "link":
            if entry.target == old.target:
                unchanged += 1
            else:
                send.append(relpath)
        elif entry.size != old.size:
            send.append(relpath)
        else:
            if entry.sha256 is None:
                entry.sha256 = sha256_file(root / relpath)
                if cache:
                    cache.put(relpath, entry.size, entry.mtime_ns, entry.sha256)
            if entry.sha256 == old.sha256:
                unchanged += 1
            else:
                send.append(relpath)
    # A path whose type changed is deleted first so the new one can take its place. Paths that
    # could leave the tree (a tampered stored manifest) are never deleted.
    delete = [
        p
        for p, old in remote.entries.items()
        if (p not in local.entries or local.entries[p].kind != old.kind) and is_safe_relpath(p)
    ]
    return Plan(send=send, delete=_outermost(delete), unchanged=unchanged)


def _outermost(paths: list[str]) -> list[str]:
    """Drop paths inside another deleted path (deleting the directory covers them)."""
    kept: list[str] = []
    for path in sorted(paths):
        if kept and path.startswith(kept[-1] + "/"):
            continue
        kept.append(path)
    return kept


def is_safe_relpath(path: str) -> bool:
    parts = path.split("/")
    return bool(path) and not path.startswith("/") and ".." not in parts and "" not in parts and "." not in parts
