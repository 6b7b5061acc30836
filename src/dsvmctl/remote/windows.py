"""Command lines for a Windows DSVM's OpenSSH server (pure builders, unit-tested only).

Windows OpenSSH runs an exec request through its default shell, cmd.exe (`cmd /c <line>`).
PowerShell work is therefore sent as `powershell.exe ... -EncodedCommand <base64 UTF-16LE>`,
which no cmd.exe or PowerShell quoting rule can mangle. Binary stdin (a tar stream) goes to
`tar.exe` (bsdtar, shipped with Windows 10 1803+ and Server 2019+) started directly by cmd.exe,
because PowerShell 5.1 would re-encode a piped byte stream.

The push layout differs from Linux: symlinks need a privilege on Windows, so the switch is a
directory swap (dest -> dest.old-<id>, staging -> dest). The two renames are not one atomic
step; `prepare_push` therefore first restores dest from a leftover `.old-<id>` when an earlier
push stopped between them, so a push never leaves the tree missing or half-updated.
"""

from __future__ import annotations

import base64

from dsvmctl.remote.manifest import MANIFEST_NAME

NEW_MANIFEST = MANIFEST_NAME + ".new"
POWERSHELL = "powershell.exe -NoLogo -NoProfile -NonInteractive -ExecutionPolicy Bypass"


def ps_quote(value: str) -> str:
    """A PowerShell single-quoted literal: nothing inside is expanded; `'` doubles."""
    return "'" + value.replace("'", "''") + "'"


def cmd_quote(path: str) -> str:
    """A double-quoted cmd.exe argument for a path (Windows paths cannot contain `"`)."""
    if '"' in path or "\n" in path:
        raise ValueError(f"not a valid Windows path: {path!r}")
    return '"' + path + '"'


def encode_powershell(script: str) -> str:
    """The cmd.exe line that runs `script` in Windows PowerShell, exit code preserved."""
    wrapped = "$ErrorActionPreference = 'Stop'\n" + script
    encoded = base64.b64encode(wrapped.encode("utf-16-le")).decode("ascii")
    return f"{POWERSHELL} -EncodedCommand {encoded}"


def decode_powershell(command_line: str) -> str:
    """Inverse of `encode_powershell` (for tests and `--dry-run` displays)."""
    encoded = command_line.rsplit(" ", 1)[-1]
    return base64.b64decode(encoded).decode("utf-16-le")


def win_join(*parts: str) -> str:
    return "\\".join(p.strip("\\/") if i else p.rstrip("\\/") for i, p in enumerate(parts))


def mkdir(path: str) -> str:
    return encode_powershell(f"New-Item -ItemType Directory -Force -Path {ps_quote(path)} | Out-Null")


def prepare_push(dest: str, push_id: str) -> str:
    """Recover an interrupted swap, drop stale staging, copy the current tree into staging, then
    delete the paths (relative, `/`-separated, NUL-separated) read from stdin."""
    stage = f"{dest}.staging-{push_id}"
    script = f"""$dest = {ps_quote(dest)}
$stage = {ps_quote(stage)}
$parent = Split-Path -Parent $dest
$leaf = Split-Path -Leaf $dest
New-Item -ItemType Directory -Force -Path $parent | Out-Null
$olds = @(Get-ChildItem -LiteralPath $parent -Directory -Filter "$leaf.old-*" | Sort-Object LastWriteTime -Descending)
if (-not (Test-Path -LiteralPath $dest) -and $olds.Count -gt 0) {{
  Rename-Item -LiteralPath $olds[0].FullName -NewName $leaf
  $olds = @($olds | Select-Object -Skip 1)
}}
foreach ($old in $olds) {{ Remove-Item -LiteralPath $old.FullName -Recurse -Force }}
Get-ChildItem -LiteralPath $parent -Directory -Filter "$leaf.staging-*" | ForEach-Object {{ Remove-Item -LiteralPath $_.FullName -Recurse -Force }}
if (Test-Path -LiteralPath $dest) {{
  robocopy $dest $stage /MIR /COPY:DAT /DCOPY:DAT /R:0 /W:0 /NFL /NDL /NJH /NJS /NP | Out-Null
  if ($LASTEXITCODE -ge 8) {{ [Console]::Error.WriteLine("robocopy failed with $LASTEXITCODE"); exit 1 }}
}} else {{
  New-Item -ItemType Directory -Force -Path $stage | Out-Null
}}
$deletions = [Console]::In.ReadToEnd()
foreach ($rel in $deletions.Split([char]0)) {{
  if ($rel) {{ Remove-Item -LiteralPath (Join-Path $stage ($rel -replace '/', '\\')) -Recurse -Force -ErrorAction SilentlyContinue }}
}}
exit 0"""
    return encode_powershell(script)


def extract_tar(dest: str, push_id: str) -> str:
    """cmd.exe line: extract the tar on stdin into staging, then swap it in."""
    stage = f"{dest}.staging-{push_id}"
    return f"tar.exe -x -f - -C {cmd_quote(stage)} && {swap_dirs(dest, push_id)}"


def swap_dirs(dest: str, push_id: str) -> str:
    """Check the archive was complete, then dest -> dest.old-<id>, staging -> dest, drop old."""
    stage, old = f"{dest}.staging-{push_id}", f"{dest}.old-{push_id}"
    script = f"""$dest = {ps_quote(dest)}
$stage = {ps_quote(stage)}
$old = {ps_quote(old)}
$new = Join-Path $stage {ps_quote(NEW_MANIFEST)}
if (-not (Test-Path -LiteralPath $new)) {{
  [Console]::Error.WriteLine('dsvmctl: the transfer ended early; nothing was switched')
  Remove-Item -LiteralPath $stage -Recurse -Force -ErrorAction SilentlyContinue
  exit 3
}}
Move-Item -LiteralPath $new -Destination (Join-Path $stage {ps_quote(MANIFEST_NAME)}) -Force
if (Test-Path -LiteralPath $dest) {{ Rename-Item -LiteralPath $dest -NewName (Split-Path -Leaf $old) }}
Rename-Item -LiteralPath $stage -NewName (Split-Path -Leaf $dest)
Remove-Item -LiteralPath $old -Recurse -Force -ErrorAction SilentlyContinue
exit 0"""
    return encode_powershell(script)


def read_manifest(dest: str) -> str:
    """Print `tar=1`/`tar=0`, then the stored manifest if there is one."""
    path = win_join(dest, MANIFEST_NAME)
    script = f"""if (Get-Command tar.exe -ErrorAction SilentlyContinue) {{ 'tar=1' }} else {{ 'tar=0' }}
if (Test-Path -LiteralPath {ps_quote(path)}) {{ Get-Content -Raw -LiteralPath {ps_quote(path)} }}
exit 0"""
    return encode_powershell(script)


def fetch_tar(paths: list[str]) -> str:
    """cmd.exe line: one tar of the given files/directories on stdout, each under its base name."""
    members = []
    for path in paths:
        trimmed = path.rstrip("\\/")
        parent, _, base = trimmed.replace("/", "\\").rpartition("\\")
        members.append(f"-C {cmd_quote(parent or '.')} {cmd_quote(base)}")
    return "tar.exe -c -f - " + " ".join(members)


def run_python(script: str, args: list[str] | tuple[str, ...] = (), *, cwd: str, python: str = "python") -> str:
    """Run a Python script in `cwd` and exit with its exit code."""
    argv = " ".join(ps_quote(a) for a in [script, *args])
    return encode_powershell(f"Set-Location -LiteralPath {ps_quote(cwd)}\n& {ps_quote(python)} {argv}\nexit $LASTEXITCODE")


def stop_process_tree(pid: int) -> str:
    """Windows has no process groups; taskkill /T ends the process and its descendants."""
    return f"taskkill /T /F /PID {int(pid)}"
