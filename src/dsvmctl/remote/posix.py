"""Shell scripts run on a Linux VM for push and fetch (pure string builders, POSIX sh + GNU tools).

Layout of a pushed tree `<parent>/<name>` (the "dest"):

    <name>            symlink -> <name>.gen-<id>   (what users and commands see)
    <name>.gen-<id>   the current generation; holds .dsvmctl-manifest.json
    <name>.staging-<id>   a push in progress (hard-link copy of the current generation + changes)

A push builds the next generation in a staging directory, then switches by renaming a new
symlink over `<name>` (rename(2) is atomic), so a reader sees the old tree or the new one, never
a mix. GNU tar unlinks a file before extracting it, so files shared by hard link with the
current generation are replaced, never written through.
"""

from __future__ import annotations

import posixpath
import shlex
from dataclasses import dataclass

from dsvmctl.remote.manifest import MANIFEST_NAME

NEW_MANIFEST = MANIFEST_NAME + ".new"


@dataclass(frozen=True)
class DestPaths:
    """The shell-side names for one push into `dest` (relative paths are relative to home)."""

    parent: str
    name: str
    push_id: str

    @classmethod
    def of(cls, dest: str, push_id: str) -> "DestPaths":
        dest = dest.strip()
        if dest.startswith("~/"):
            dest = dest[2:]
        dest = posixpath.normpath(dest).rstrip("/")
        if dest in ("", ".", "/", "~") or dest.startswith("../"):
            raise ValueError(f"refusing to push onto {dest!r}: give a directory below home, e.g. 'dsvmctl/workloads'")
        parent, name = posixpath.split(dest)
        return cls(parent or ".", name, push_id)

    @property
    def stage(self) -> str:
        return f"{self.name}.staging-{self.push_id}"

    @property
    def gen(self) -> str:
        return f"{self.name}.gen-{self.push_id}"

    @property
    def remote_path(self) -> str:
        return posixpath.join(self.parent, self.name)


def _q(value: str) -> str:
    return shlex.quote(value)


def _state_lines(paths: DestPaths) -> str:
    """Set $state to what `<parent>/<name>` holds now: a generation id, `plain` (a directory we
    did not make) or `-` (nothing). Leaves the working directory where it was."""
    name = _q(paths.name)
    return f"""start_dir=$PWD
state=-
if cd -- {_q(paths.parent)} 2>/dev/null; then
  if [ -L {name} ]; then state=$(readlink -- {name}); state=${{state##*.gen-}}
  elif [ -e {name} ]; then state=plain
  fi
fi
cd -- "$start_dir"
"""


def probe_script(paths: DestPaths) -> str:
    """Prints `tar=1|0`, `state=<id>`, then the stored manifest, if any."""
    manifest = posixpath.join(paths.remote_path, MANIFEST_NAME)
    return (
        "if command -v tar >/dev/null 2>&1; then echo tar=1; else echo tar=0; fi\n"
        + _state_lines(paths)
        + 'echo "state=$state"\n'
        + f'[ "$state" = - ] || cat -- {_q(manifest)} 2>/dev/null || true\n'
    )


def _prepare_lines(paths: DestPaths, delete_command: str) -> str:
    """Clean leftovers of interrupted pushes, make the staging copy, apply deletions (read by
    `delete_command` inside staging). Ends with the working directory back at the parent."""
    name, stage = _q(paths.name), _q(paths.stage)
    return f"""mkdir -p -- {_q(paths.parent)}
cd -- {_q(paths.parent)}
top=$PWD
cur=
if [ -L {name} ]; then cur=$(readlink -- {name}); fi
for old in {name}.staging-* {name}.link-* {name}.gen-* {name}.pre-dsvmctl-*; do
  [ -e "$old" ] || [ -L "$old" ] || continue
  [ "$old" = "$cur" ] || rm -rf -- "$old"
done
if [ -n "$cur" ]; then cp -al -- "$cur" {stage}
elif [ -d {name} ]; then cp -al -- {name} {stage}
else mkdir -- {stage}
fi
cd -- {stage}
{delete_command}
cd ..
"""


def prepare_script(paths: DestPaths) -> str:
    """The prepare step alone (SFTP pushes): deletions, NUL-separated, are all of stdin."""
    return "set -e\n" + _prepare_lines(paths, "xargs -0 -r rm -rf --")


def push_tar_script(paths: DestPaths) -> str:
    """The whole tar push in one exec: check the destination's state, prepare, extract, switch.

    The client opens this channel before it knows what to send, so the remote shell starts
    while it works. stdin begins with one header line:
      `skip`              exit without touching anything;
      `check 0 <state>`   exit 0 if the destination still is <state>, else 75;
      `go <n> <state>`    the same check, then n bytes of NUL-separated deletions, then the tar.
    <state> is a generation id, `plain` or `-` (see `_state_lines`). Exit 75 means "not the
    state you planned against" and 76 "no tar here"; in both cases nothing was changed. `read`
    and GNU `head -c` consume exactly their share of stdin, leaving the tar stream intact.
    On any later failure the staging copy is removed and the current tree is untouched.
    """
    stage = _q(paths.stage)
    return f"""set -e
IFS= read -r header || exit 0
set -f; set -- $header; set +f
verb=${{1:-skip}}; n=${{2:-0}}; want=${{3:--}}
case "$verb" in go|check) ;; *) exit 0 ;; esac
{_state_lines(paths)}if [ "$state" != "$want" ]; then echo "dsvmctl-state:$state" >&2; exit 75; fi
[ "$verb" = go ] || exit 0
command -v tar >/dev/null 2>&1 || {{ echo "dsvmctl: tar not found" >&2; exit 76; }}
stage={stage}
top=
trap '[ -z "$top" ] || rm -rf -- "$top/$stage"' EXIT
{_prepare_lines(paths, 'if [ "$n" -gt 0 ]; then head -c "$n" | xargs -0 -r rm -rf --; fi')}tar -x -p --no-same-owner -f - -C {stage}
{_switch_lines(paths)}"""


STATE_CHANGED = 75
NO_TAR = 76


def push_header(state: str, deletions: list[str]) -> bytes:
    listing = b"".join(p.encode("utf-8", "surrogateescape") + b"\0" for p in deletions)
    return b"go %d %s\n" % (len(listing), state.encode()) + listing


def check_header(state: str) -> bytes:
    return b"check 0 %s\n" % state.encode()


SKIP_HEADER = b"skip\n"


def _switch_lines(paths: DestPaths) -> str:
    name, stage, gen, push_id = _q(paths.name), _q(paths.stage), _q(paths.gen), _q(paths.push_id)
    return f"""[ -f {stage}/{NEW_MANIFEST} ] || {{ echo "dsvmctl: the transfer ended early; nothing was switched" >&2; exit 3; }}
mv -f -- {stage}/{NEW_MANIFEST} {stage}/{MANIFEST_NAME}
mv -- {stage} {gen}
trap - EXIT
if [ -d {name} ] && [ ! -L {name} ]; then mv -- {name} {name}.pre-dsvmctl-{push_id}; fi
ln -s -- {gen} {name}.link-{push_id}
mv -T -- {name}.link-{push_id} {name}
for old in {name}.gen-* {name}.pre-dsvmctl-*; do
  [ "$old" = {gen} ] || rm -rf -- "$old"
done
"""


def finalize_script(paths: DestPaths) -> str:
    """Switch after files were uploaded into staging some other way (SFTP)."""
    stage = _q(paths.stage)
    return f"""set -e
cd -- {_q(paths.parent)}
stage={stage}
trap 'rm -rf -- "$stage"' EXIT
{_switch_lines(paths)}"""


def fetch_script(remote_paths: list[str]) -> str:
    """Check every path exists, then write one tar of them to stdout (each under its basename)."""
    checks, members = [], []
    for raw in remote_paths:
        path = raw.removeprefix("~/").rstrip("/") or "/"
        parent, base = posixpath.split(path)
        parent = parent or "."
        checks.append(f"[ -e {_q(path)} ] || [ -L {_q(path)} ] || missing=\"$missing\"{_q(raw + chr(10))}")
        # -C is cumulative for relative dirs in GNU tar, so resolve each against home first.
        anchor = parent if parent.startswith("/") else f'"$HOME"/{_q(parent)}'
        members.append(f"-C {anchor} {_q(base)}")
    return (
        "missing=\n"
        + "\n".join(checks)
        + '\nif [ -n "$missing" ]; then printf "missing:%s" "$missing" >&2; exit 4; fi\n'
        + "exec tar -c -f - "
        + " ".join(members)
        + "\n"
    )
