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
from dsvmctl.remote.posix import FOREIGN, MARKER, MARKER_TEXT

NEW_MANIFEST = MANIFEST_NAME + ".new"
POWERSHELL = "powershell.exe -NoLogo -NoProfile -NonInteractive -ExecutionPolicy Bypass"


# PowerShell's tokenizer takes all of these as the single quote of a verbatim string (its
# language specification, 2.3.5.2: single-quote-character), so each must be doubled inside one.
PS_SINGLE_QUOTES = "'\u2018\u2019\u201a\u201b"


def ps_quote(value: str) -> str:
    """A PowerShell verbatim (single-quoted) string that is exactly `value`: nothing inside is
    expanded; each single-quote character (', and the typographic ‘ ’ ‚ ‛) is doubled."""
    return "'" + "".join(c + c if c in PS_SINGLE_QUOTES else c for c in value) + "'"


def ps_array(values: list[str] | tuple[str, ...]) -> str:
    """Arguments for `& program ...`: each one a verbatim string."""
    return " ".join(ps_quote(v) for v in values)


def cmd_quote(path: str) -> str:
    """A double-quoted cmd.exe argument for a path. cmd.exe expands %VAR% even inside quotes
    and a `"` would end them: paths holding either (or a line break) are refused."""
    if any(c in path for c in '"%\r\n\0'):
        raise ValueError(f"not a path dsvmctl can pass to cmd.exe: {path!r} (no \", %, line breaks)")
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
    """Refuse a destination dsvmctl did not push (exit FOREIGN: no marker), recover an
    interrupted swap, drop stale staging, copy the current tree into staging, then delete the
    paths (relative, `/`-separated, NUL-separated) read from stdin. Only marked leftovers go."""
    stage = f"{dest}.staging-{push_id}"
    script = f"""$dest = {ps_quote(dest)}
$stage = {ps_quote(stage)}
$parent = Split-Path -Parent $dest
if (-not $parent) {{ $parent = '.' }}
$leaf = Split-Path -Leaf $dest
function Test-Ours($dir) {{ (Test-Path -LiteralPath (Join-Path $dir {ps_quote(MARKER)})) -or (Test-Path -LiteralPath (Join-Path $dir {ps_quote(MANIFEST_NAME)})) }}
if ((Test-Path -LiteralPath $dest) -and -not (Test-Ours $dest)) {{
  [Console]::Error.WriteLine("dsvmctl: $dest is not a tree dsvmctl pushed"); exit {FOREIGN}
}}
New-Item -ItemType Directory -Force -Path $parent | Out-Null
$olds = @(Get-ChildItem -LiteralPath $parent -Directory -Filter "$leaf.old-*" | Where-Object {{ Test-Ours $_.FullName }} | Sort-Object LastWriteTime -Descending)
if (-not (Test-Path -LiteralPath $dest) -and $olds.Count -gt 0) {{
  Rename-Item -LiteralPath $olds[0].FullName -NewName $leaf
  $olds = @($olds | Select-Object -Skip 1)
}}
foreach ($old in $olds) {{ Remove-Item -LiteralPath $old.FullName -Recurse -Force }}
Get-ChildItem -LiteralPath $parent -Directory -Filter "$leaf.staging-*" | Where-Object {{ Test-Ours $_.FullName }} | ForEach-Object {{ Remove-Item -LiteralPath $_.FullName -Recurse -Force }}
if (Test-Path -LiteralPath $dest) {{
  robocopy $dest $stage /MIR /COPY:DAT /DCOPY:DAT /R:0 /W:0 /NFL /NDL /NJH /NJS /NP | Out-Null
  if ($LASTEXITCODE -ge 8) {{ [Console]::Error.WriteLine("robocopy failed with $LASTEXITCODE"); exit 1 }}
}} else {{
  New-Item -ItemType Directory -Force -Path $stage | Out-Null
}}
Set-Content -LiteralPath (Join-Path $stage {ps_quote(MARKER)}) -Value {ps_quote(MARKER_TEXT)}
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


# -- runs (the same steps as posix.py's, in PowerShell) --------------------------------------------


def find_python_script(mark: str) -> str:
    """The probe of posix.find_python_script on a Windows DSVM (conda envs, C:\\anaconda, python)."""
    script = r"""$ErrorActionPreference = 'Continue'
$cands = @()
foreach ($conda in @('conda', 'C:\anaconda\Scripts\conda.exe')) {
  if (Get-Command $conda -ErrorAction SilentlyContinue) {
    $cands += & $conda env list 2>$null | Where-Object { $_ -notmatch '^#' -and $_.Trim() } |
      ForEach-Object { Join-Path (($_.Trim() -split '\s+')[-1]) 'python.exe' }
    break
  }
}
$cands += @(Get-ChildItem 'C:\anaconda\envs\*\python.exe' -ErrorAction SilentlyContinue | ForEach-Object { $_.FullName })
$cands += @('C:\anaconda\python.exe', 'python3', 'python')
foreach ($py in $cands) {
  if (-not (Get-Command $py -ErrorAction SilentlyContinue)) { continue }
  & $py -c 'import torch' *> $null
  if ($LASTEXITCODE -eq 0) { """ + ps_quote(mark) + r""" + (Get-Command $py).Source; exit 0 }
  [Console]::Error.WriteLine("tried: $py (no torch)")
}
exit 3"""
    return encode_powershell(script)


def run_command(argv: list[str], workdir: str, run_dir: str, kill_mark: str) -> str:
    """Foreground run; the first stdout line carries its pid so a timeout or Ctrl-C can end the
    process tree (`taskkill /T`: Windows has no process groups)."""
    program, *args = argv
    script = (f"{ps_quote(kill_mark)} + $PID\n"
              f"New-Item -ItemType Directory -Force -Path {ps_quote(run_dir)} | Out-Null\n"
              f"Set-Location -LiteralPath {ps_quote(workdir)}\n"
              f"& {ps_quote(program)} {ps_array(args)}\n"
              "exit $LASTEXITCODE")
    return encode_powershell(script)


def detach_command(argv: list[str], workdir: str, run_dir: str, rel_run_dir: str, pid_mark: str) -> str:
    """Detached run: a hidden PowerShell started with Start-Process outlives the SSH session; it
    runs the program with output to run.log / run.err.log and writes exit_code when done."""
    program, *args = argv
    inner = (f"Set-Location -LiteralPath {ps_quote(workdir)}\n"
             f"& {ps_quote(program)} {ps_array(args)}\n"
             f"Set-Content -LiteralPath {ps_quote(win_join(rel_run_dir, 'exit_code'))} -Value $LASTEXITCODE\n"
             "exit $LASTEXITCODE")
    encoded = encode_powershell(inner).rsplit(" ", 1)[-1]
    script = (f"$run = Join-Path (Get-Location).Path {ps_quote(run_dir)}\n"
              "New-Item -ItemType Directory -Force -Path $run | Out-Null\n"
              "$p = Start-Process -FilePath 'powershell.exe' -WindowStyle Hidden -PassThru "
              "-WorkingDirectory (Get-Location).Path "
              "-ArgumentList @('-NoLogo', '-NoProfile', '-NonInteractive', '-ExecutionPolicy', 'Bypass', "
              f"'-EncodedCommand', {ps_quote(encoded)}) "
              "-RedirectStandardOutput (Join-Path $run 'run.log') "
              "-RedirectStandardError (Join-Path $run 'run.err.log')\n"
              f"{ps_quote(pid_mark)} + $p.Id")
    return encode_powershell(script)


def logs_command(run_dir: str, run_id: str, pid: int | None, follow: bool) -> str:
    """Print the run's log and error log (exit 4 when there is none); `follow`: until `pid` ends."""
    head = (f"$log = {ps_quote(win_join(run_dir, 'run.log'))}\n$err = {ps_quote(win_join(run_dir, 'run.err.log'))}\n"
            f"if (-not (Test-Path -LiteralPath $log)) {{ [Console]::Error.WriteLine("
            f"{ps_quote(f'no log for run {run_id} on this VM')}); exit 4 }}\n")
    if not (follow and pid):
        return encode_powershell(head + "Get-Content -Raw -LiteralPath $log\n"
                                 "if (Test-Path -LiteralPath $err) { Get-Content -Raw -LiteralPath $err }\nexit 0")
    script = head + f"""$stream = [System.IO.File]::Open($log, 'Open', 'Read', 'ReadWrite')
$reader = New-Object System.IO.StreamReader($stream)
do {{
  $alive = Get-Process -Id {int(pid)} -ErrorAction SilentlyContinue
  $text = $reader.ReadToEnd()
  if ($text) {{ [Console]::Out.Write($text) }}
  if ($alive) {{ Start-Sleep -Milliseconds 500 }}
}} while ($alive)
[Console]::Out.Write($reader.ReadToEnd())
$reader.Close()
if (Test-Path -LiteralPath $err) {{ Get-Content -Raw -LiteralPath $err }}
exit 0"""
    return encode_powershell(script)


def exit_code_command(run_dir: str) -> str:
    path = ps_quote(win_join(run_dir, "exit_code"))
    return encode_powershell(f"if (Test-Path -LiteralPath {path}) {{ (Get-Content -Raw -LiteralPath {path}).Trim() }}\n"
                             "exit 0")
