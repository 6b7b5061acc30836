"""How an exception that ends a command reaches the user: a message and an exit code, never a
traceback (unless --debug asks for one).

- dsvmctl's own errors (DsvmctlError, RemoteError) carry their message and exit code.
- A few refusals raised as plain exceptions by pure helpers (ValueError from the host-key,
  push-destination and results-store checks, the ARM engine's TemplateError, tarfile's refusal
  of an archive) are known by where they come from and get a message and a fix here.
- Anything else is a bug: one line says what happened and where the full report was saved
  (under the state directory), and that --debug shows the traceback.

Kept light: the CLI imports this at start-up.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

UNEXPECTED_EXIT_CODE = 70  # EX_SOFTWARE: an internal error
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a tool whose reader went away


def reader_gone() -> None:
    """Whoever read our stdout has gone (`| head`, a closed pipe): not an error worth a message.
    Point stdout at /dev/null so the interpreter's flush at exit does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass

# ValueErrors of pure validating helpers, by the module that raised them: (exit code, fix).
_KNOWN_VALUE_ERRORS = {
    "dsvmctl.remote.hostkeys": (22, "the pinned SSH host key (host_public_key in the machine's machine.json "
                                    "under <state>/machines/, or --host-key-fingerprint) is damaged: re-create "
                                    "the machine with `dsvmctl up`, or `dsvmctl attach` it again with the "
                                    "fingerprint its owner gives you"),
    "dsvmctl.remote.posix": (2, "give --dest a directory below the VM user's home, e.g. 'dsvmctl/workloads'"),
    # click's Path type passes a NUL character to os.stat, which raises ValueError, not OSError
    "click.types": (2, "a file or directory argument cannot contain a NUL character; check the command line"),
    "dsvmctl.bench.store": (1, "the run record is incomplete or malformed; rerun the benchmark, or report "
                               "this if it keeps happening"),
}


@dataclass
class Failure:
    message: str
    exit_code: int
    report: Path | None = None  # where the full report of an unexpected error went


def describe(err: BaseException, argv: list[str] | None = None) -> Failure:
    """The message and exit code for `err`; an unexpected error's report is written first."""
    from .errors import DsvmctlError
    from .remote.errors import RemoteError

    if isinstance(err, (DsvmctlError, RemoteError)):
        return Failure(str(err), err.exit_code)
    tarfile = sys.modules.get("tarfile")
    if tarfile is not None and isinstance(err, tarfile.TarError):
        return Failure(f"refused to unpack the archive the VM sent: {err}. Nothing was written outside the "
                       "destination.\n  fix: check the VM's files (links, devices, absolute or '..' names are "
                       "refused); if you did not put them there, treat the VM as compromised", 27)
    arm_errors = sys.modules.get("dsvmctl.arm.errors")
    if arm_errors is not None and isinstance(err, arm_errors.TemplateError):
        return Failure(f"{err}\n  fix: correct the template (run `dsvmctl validate` on it)", 2)
    if isinstance(err, ValueError):
        known = _KNOWN_VALUE_ERRORS.get(_raising_module(err))
        if known is not None:
            return Failure(f"{err}\n  fix: {known[1]}", known[0])
    report = save_report(err, argv if argv is not None else sys.argv)
    where = f"the full report is in {report}" if report else "no report could be saved"
    return Failure(f"unexpected {type(err).__name__}: {_one_line(err)} ({where}; run with --debug for the "
                   "traceback)", UNEXPECTED_EXIT_CODE, report)


def save_report(err: BaseException, argv: list[str]) -> Path | None:
    """The traceback and context of an unexpected error, 0600, under <state>/reports/."""
    import platform
    import traceback

    from . import __version__

    text = (f"dsvmctl {__version__} on Python {platform.python_version()} ({platform.platform()})\n"
            f"command: {' '.join(argv)}\n"
            f"time: {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}\n\n"
            + "".join(traceback.format_exception(type(err), err, err.__traceback__)))
    name = f"error-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{os.getpid()}.txt"
    for folder in _report_folders():
        try:
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            path = folder / name
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            return path
        except OSError:
            continue
    return None


def _report_folders() -> list[Path]:
    import tempfile

    folders = []
    try:
        from .paths import state_home

        folders.append(state_home() / "reports")
    except OSError:
        pass  # an unusable state directory: the temp dir still takes the report
    folders.append(Path(tempfile.gettempdir()) / f"dsvmctl-reports-{os.getuid()}")
    return folders


def _raising_module(err: BaseException) -> str:
    tb = err.__traceback__
    module = ""
    while tb is not None:
        module = tb.tb_frame.f_globals.get("__name__", "")
        tb = tb.tb_next
    return module


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return (text[:300] + "...") if len(text) > 300 else (text or "(no message)")
