"""The `dsvmctl` entry point: `exec` and `push` straight to a running agent, everything else
(and anything unusual about those two) to the full click CLI in dsvmctl.cli.

Why: with the agent holding the SSH connection, what is left of `dsvmctl exec lab -- true` is
this process's start. Importing click and the command modules costs more than the command
itself, so the two commands people repeat most take a path that imports neither (nor
paramiko, nor the Azure SDK). Nothing is sent before the fast path knows it can finish; if it
cannot, the full CLI runs the command as usual.
"""

from __future__ import annotations

import os
import sys


def push_message(pushed, name: str) -> str:
    """What a push (a PushResult, cloud/results.py) did, in one line."""
    if pushed.method == "none":
        return f"{pushed.dest} on {name} is up to date ({pushed.unchanged} unchanged)"
    return (f"pushed {pushed.files_sent} files ({pushed.bytes_sent:,} bytes) to {pushed.dest} "
            f"on {name} in {pushed.seconds:.2f} s; {pushed.deleted} deleted, {pushed.unchanged} unchanged")


def _parse_exec(args: list[str]) -> tuple[str, list[str]] | None:
    """`exec NAME -- CMD...` or `exec NAME CMD...` (CMD not an option); else None."""
    if len(args) < 2 or args[0].startswith("-"):
        return None
    name, rest = args[0], args[1:]
    if rest[0] == "--":
        rest = rest[1:]
    elif rest[0].startswith("-"):
        return None
    return (name, rest) if rest else None


def _parse_push(args: list[str]) -> tuple[str, str | None, str | None] | None:
    """`push NAME [SRC] [--dest DIR]`; else None."""
    if not args or args[0].startswith("-"):
        return None
    name, src, dest, rest = args[0], None, None, args[1:]
    while rest:
        item = rest.pop(0)
        if item == "--dest" and rest:
            dest = rest.pop(0)
        elif item.startswith("--dest="):
            dest = item.split("=", 1)[1]
        elif not item.startswith("-") and src is None:
            src = item
        else:
            return None
    if src is not None and not os.path.isdir(src):
        return None  # the full CLI says what is wrong with it
    return name, src, dest


def _route(name: str):
    from .agent.route import agent_target
    from .errors import DsvmctlError

    try:
        return agent_target(os.environ.get("DSVMCTL_CLOUD", "local"), name)
    except (DsvmctlError, OSError, ValueError):
        return None  # unknown machine, unreadable record, ...: the full CLI explains


def _fast(argv: list[str]) -> int | None:
    if not argv or argv[0] not in ("exec", "push") or "-h" in argv or "--help" in argv:
        return None
    from .agent.client import agent_enabled

    if not agent_enabled():
        return None
    if argv[0] == "exec":
        parsed = _parse_exec(argv[1:])
        if parsed is None or (routed := _route(parsed[0])) is None:
            return None
        import shlex

        from .agent.session import as_callback
        from .commands.stdio import piped_stdin

        agent, target = routed
        return agent.exec(target, shlex.join(parsed[1]), stdout=as_callback(sys.stdout.buffer),
                          stderr=as_callback(sys.stderr.buffer), stdin=piped_stdin())
    parsed = _parse_push(argv[1:])
    if parsed is None or (routed := _route(parsed[0])) is None:
        return None
    from .commands.pushing import push_via_agent

    summary = push_via_agent(os.environ.get("DSVMCTL_CLOUD", "local"), parsed[0], routed, parsed[1], parsed[2])
    print(push_message(summary, parsed[0]))
    return 0


def main() -> None:
    from .errors import DsvmctlError
    from .remote.errors import RemoteError

    try:
        code = _fast(sys.argv[1:])
        if code is not None:
            sys.stdout.flush()
    except (DsvmctlError, RemoteError) as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(err.exit_code)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:
        from .failures import EXIT_BROKEN_PIPE, reader_gone

        reader_gone()
        sys.exit(EXIT_BROKEN_PIPE)
    if code is not None:
        sys.exit(code)
    from .cli import main as full_cli

    full_cli()
