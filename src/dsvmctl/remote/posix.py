"""Shell scripts run on a Linux VM: push, fetch and runs (pure string builders, POSIX sh + GNU tools).

Every value that comes from outside (a path, a run id, an argument, a name) enters a script
only through `quote` (shlex.quote: one single-quoted word, nothing inside expanded), so the
shell sees exactly the string given; tests/remote/test_remote_quoting.py checks that over
arbitrary strings with a real sh and bash.

Layout of a pushed tree `<parent>/<name>` (the "dest"):

    <name>            symlink -> <name>.gen-<id>   (what users and commands see)
    <name>.gen-<id>   the current generation; holds .dsvmctl-manifest.json and the marker
                      .dsvmctl-generation (what makes it dsvmctl's)
    <name>.staging-<id>   a push in progress (hard-link copy of the current generation + changes)

A push never replaces or deletes what it did not make: when `<name>` exists and is not a link
to a marked generation beside it (a plain directory, a file, a link elsewhere), it refuses
(exit FOREIGN) before changing anything, and its clean-up only removes marked leftovers.
With `confined` (the CLI's default) the destination must also resolve inside the home.

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


MARKER = ".dsvmctl-generation"
MARKER_TEXT = "a generation of a tree pushed by dsvmctl; dsvmctl replaces and removes only marked trees"
FOREIGN = 78  # the destination exists and is not dsvmctl's: nothing was changed
OUTSIDE_HOME = 77  # a confined destination resolves outside the home: nothing was changed


def check_dest(dest: str, *, confined: bool, windows: bool = False) -> str:
    """The push destination as a normalized `/`-separated path, or BadDestination.

    `~/x` is home-relative. Confined (the CLI's default): relative to home only, nothing
    absolute, nothing that leaves home with `..`. Never home itself, `/` or a bare `..`."""
    from dsvmctl.remote.errors import BadDestination

    given = dest
    dest = dest.strip()
    if windows:
        dest = dest.replace("\\", "/")
    if dest.startswith("~/"):
        dest = dest[2:]
    absolute = dest.startswith("/") or (windows and len(dest) > 1 and dest[1] == ":")
    if dest.startswith("~"):
        raise BadDestination(given, "`~` alone or `~user` is not a directory below home")
    if confined and absolute:
        raise BadDestination(given, "an absolute path; destinations are relative to the VM user's home "
                                    "(pass --dest-absolute to push outside it)")
    dest = posixpath.normpath(dest).rstrip("/") if dest else ""
    if dest in ("", ".", "/", "..") or dest.startswith("../") or (windows and dest.endswith(":")):
        raise BadDestination(given, "it is the home itself, the root, or outside home by `..`")
    if absolute and dest.startswith("//"):
        dest = "/" + dest.lstrip("/")
    return dest


@dataclass(frozen=True)
class DestPaths:
    """The shell-side names for one push into `dest` (relative paths are relative to home)."""

    parent: str
    name: str
    push_id: str

    confined: bool = False

    @classmethod
    def of(cls, dest: str, push_id: str, *, confined: bool = False) -> "DestPaths":
        dest = check_dest(dest, confined=confined)
        parent, name = posixpath.split(dest)
        return cls(parent or ".", name, push_id, confined)

    @property
    def stage(self) -> str:
        return f"{self.name}.staging-{self.push_id}"

    @property
    def gen(self) -> str:
        return f"{self.name}.gen-{self.push_id}"

    @property
    def remote_path(self) -> str:
        return posixpath.join(self.parent, self.name)


def quote(value: str) -> str:
    """One shell word that is exactly `value` (no expansion, no splitting)."""
    return shlex.quote(value)


def join(argv: list[str] | tuple[str, ...]) -> str:
    """A command line whose words are exactly `argv`."""
    return " ".join(quote(a) for a in argv)


def cd_path(path: str) -> str:
    """A quoted `cd` operand that is exactly `path`: a relative one gets `./`, since `cd -` means
    $OLDPWD and a bare relative name is looked up in $CDPATH first."""
    return quote(path if path.startswith(("/", "./", "../")) else "./" + path)


_q = quote


def _state_lines(paths: DestPaths) -> str:
    """Set $state to what `<parent>/<name>` holds now: a generation id, `foreign` (anything
    but a link to a marked generation beside it) or `-` (nothing). Leaves the working
    directory where it was."""
    name = _q(paths.name)
    return f"""start_dir=$PWD
state=-
if cd -- {cd_path(paths.parent)} 2>/dev/null; then
  if [ -L {name} ]; then
    state=foreign
    t=$(readlink -- {name})
    case "$t" in
      {name}.gen-*/*) ;;
      {name}.gen-*) if [ -d "$t" ] && [ ! -L "$t" ] && {{ [ -f "$t"/{MARKER} ] || [ -f "$t"/{MANIFEST_NAME} ]; }}; then
          state=${{t##*.gen-}}; fi ;;
    esac
  elif [ -e {name} ]; then state=foreign
  fi
fi
cd -- "$start_dir"
"""


def _refuse_lines(paths: DestPaths) -> str:
    """Exit before any change when the destination is not dsvmctl's or leaves a confined home."""
    dest = _q(paths.remote_path)
    lines = (f"if [ \"$state\" = foreign ]; then printf 'dsvmctl: %s is not a tree dsvmctl pushed\\n' {dest} >&2; "
             f"exit {FOREIGN}; fi\n")
    if paths.confined:
        lines += f"""d={cd_path(paths.parent)}
while [ ! -d "$d" ]; do d=$(dirname -- "$d"); done
h=$(cd -P -- "$HOME" && pwd) && r=$(cd -P -- "$d" && pwd) || exit {OUTSIDE_HOME}
case "$r/" in "$h"/*) ;; *) printf 'dsvmctl: %s resolves to %s, outside the home %s\\n' {dest} "$r" "$h" >&2; exit {OUTSIDE_HOME} ;; esac
"""
    return lines


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
cd -- {cd_path(paths.parent)}
top=$PWD
cur=
if [ -L {name} ]; then cur=$(readlink -- {name}); fi
for old in {name}.staging-* {name}.link-* {name}.gen-*; do
  [ "$old" = "$cur" ] && continue
  if [ -L "$old" ]; then case "$old" in {name}.link-*) rm -f -- "$old" ;; esac
  elif [ -d "$old" ] && [ -f "$old"/{MARKER} ]; then rm -rf -- "$old"
  fi
done
if [ -n "$cur" ]; then cp -al -- "$cur" {stage}
else mkdir -- {stage}
fi
rm -f -- {stage}/{MARKER}
printf '%s\\n' {_q(MARKER_TEXT)} > {stage}/{MARKER}
cd -- {cd_path(paths.stage)}
{delete_command}
cd ..
"""


def prepare_script(paths: DestPaths) -> str:
    """The prepare step alone (SFTP pushes): deletions, NUL-separated, are all of stdin."""
    return "set -e\n" + _state_lines(paths) + _refuse_lines(paths) + _prepare_lines(paths, "xargs -0 -r rm -rf --")


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
{_state_lines(paths)}{_refuse_lines(paths)}if [ "$state" != "$want" ]; then echo "dsvmctl-state:$state" >&2; exit 75; fi
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
ln -s -- {gen} {name}.link-{push_id}
mv -T -- {name}.link-{push_id} {name}
for old in {name}.gen-*; do
  [ "$old" = {gen} ] || [ -L "$old" ] || [ ! -f "$old"/{MARKER} ] || rm -rf -- "$old"
done
"""


def finalize_script(paths: DestPaths) -> str:
    """Switch after files were uploaded into staging some other way (SFTP)."""
    stage = _q(paths.stage)
    return f"""set -e
cd -- {cd_path(paths.parent)}
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
        anchor = _q(parent) if parent.startswith("/") else f'"$HOME"/{_q(parent)}'
        members.append(f"-C {anchor} {_q('./' + base if base.startswith('-') else base)}")  # not an option
    return (
        "missing=\n"
        + "\n".join(checks)
        + '\nif [ -n "$missing" ]; then printf "missing:%s" "$missing" >&2; exit 4; fi\n'
        + "exec tar -c -f - "
        + " ".join(members)
        + "\n"
    )


# -- runs ----------------------------------------------------------------------------------------
# A run's files live in `<runs>/<run_id>/` (metrics.json; run.log and exit_code when detached);
# train.py runs with the workloads directory as its working directory.


def find_python_script(mark: str) -> str:
    """Probe order: every conda environment, the DSVM's /anaconda envs and base, python3, python.
    Prints `<mark><path>` for the first that imports torch; `tried: ...` on stderr."""
    return r"""for conda in conda /anaconda/bin/conda /opt/conda/bin/conda "$HOME/miniconda3/bin/conda"; do
  command -v "$conda" >/dev/null 2>&1 || continue
  envs=$("$conda" env list 2>/dev/null | awk '!/^#/ && NF { print $NF "/bin/python" }')
  break
done
for py in $envs /anaconda/envs/*/bin/python /anaconda/bin/python /opt/conda/bin/python python3 python; do
  case "$py" in *'*'*) continue ;; esac
  command -v "$py" >/dev/null 2>&1 || continue
  if "$py" -c 'import torch' >/dev/null 2>&1; then
    printf '%s%s\n' """ + quote(mark) + r""" "$(command -v "$py")"
    exit 0
  fi
  echo "tried: $py (no torch)" >&2
done
exit 3
"""


def run_command(argv: list[str], workdir: str, run_dir: str) -> str:
    """Foreground: `exec` keeps the shell's pid, so the Session's process-group stop reaches it."""
    return f"mkdir -p -- {quote(run_dir)} && cd -- {cd_path(workdir)} && exec {join(argv)}"


def detach_command(argv: list[str], workdir: str, run_dir: str, pid_mark: str) -> str:
    """Detached: its own session (setsid), immune to hang-ups (nohup), output to run.log, exit
    status to exit_code when it ends. Prints `<pid_mark><pid>` (the new session's id)."""
    rel = posixpath.relpath(run_dir, workdir)
    inner = f"{join(argv)}; echo $? > {quote(rel + '/exit_code')}"
    return (f"mkdir -p -- {quote(run_dir)} && cd -- {cd_path(workdir)} || exit 1\n"
            f"nohup setsid sh -c {quote(inner)} > {quote(rel + '/run.log')} 2>&1 < /dev/null &\n"
            f"printf '%s%s\\n' {quote(pid_mark)} \"$!\"")


def logs_command(run_dir: str, run_id: str, pid: int | None, follow: bool) -> str:
    """Print the run's log (exit 4 when there is none); `follow`: until process `pid` ends."""
    log = quote(posixpath.join(run_dir, "run.log"))
    missing = f"[ -f {log} ] || {{ printf '%s\\n' {quote(f'no log for run {run_id} on this VM')} >&2; exit 4; }}\n"
    if follow and pid:
        return missing + f"exec tail -n +1 -f --pid={int(pid)} {log}"
    return missing + f"exec cat -- {log}"


def exit_code_command(run_dir: str) -> str:
    """Prints the run's recorded exit status, or nothing."""
    return f"cat -- {quote(posixpath.join(run_dir, 'exit_code'))} 2>/dev/null || true"
