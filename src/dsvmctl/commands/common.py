"""What every command shares: `-o json`, opening the selected cloud, progress on stderr."""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from typing import Any, Callable, Iterator

import click

OUTPUT_CHOICE = click.Choice(["table", "json"], case_sensitive=False)


def output_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("-o", "--output", type=OUTPUT_CHOICE, default="table", show_default=True,
                        help="table for people, json for scripts (one JSON document on stdout).")(func)


def emit_json(document: Any) -> None:
    click.echo(json.dumps(document, indent=2, default=_jsonable))


def _jsonable(value: Any) -> Any:
    """A typed result inside a document is its to_json(); anything else (paths, times) its str()."""
    return value.to_json() if hasattr(value, "to_json") else str(value)


def emit(result: Any, output: str, table: Callable[[Any], None] | None = None) -> None:
    """Show a command's result: under -o json one JSON document on stdout (the result's
    `to_json()`, or the result itself when it is a plain document); else `table(result)` prints
    it for people (nothing when there is no table)."""
    if output == "json":
        emit_json(result.to_json() if hasattr(result, "to_json") else result)
    elif table is not None:
        table(result)


def live_output(output: str) -> Any:
    """Where a command streams a remote run's output: stderr under -o json (stdout carries the one
    JSON document only); None (this terminal's stdout) otherwise."""
    return sys.stderr.buffer if output == "json" else None


@contextmanager
def open_cloud(ctx: click.Context) -> Iterator[Any]:
    """The cloud chosen with --cloud / DSVMCTL_CLOUD, closed (local VM hosts stopped) at the end."""
    from ..api import Cloud

    root = ctx.find_root().obj
    cloud = Cloud.open(root["cloud"], unsafe_unsandboxed=root.get("unsafe_unsandboxed") or None)
    try:
        yield cloud
    finally:
        cloud.close()


@contextmanager
def progress(output: str) -> Iterator[Callable[[str], None]]:
    """A live status line on stderr for long operations; silent under -o json."""
    if output == "json" or not sys.stderr.isatty():
        def plain(message: str) -> None:
            if output != "json":
                click.echo(f"- {message}", err=True)
        yield plain
        return
    from rich.console import Console

    console = Console(stderr=True)
    with console.status("working") as status:
        def update(message: str) -> None:
            console.log(message)
            status.update(message)
        yield update
