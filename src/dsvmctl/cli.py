"""The `dsvmctl` command line: a thin layer over the library.

Start-up must stay fast (`dsvmctl --help` in well under 150 ms), so nothing heavy is imported
here: each command imports what it needs when it runs.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

import click

from . import __version__, failures
from .commands import MODULES


class Group(click.Group):
    """Every error ends as a clean message and its exit code (failures.py); --debug keeps the traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise  # click's own: usage errors and exits, which click reports itself
        except KeyboardInterrupt:
            click.secho("interrupted", fg="yellow", err=True)
            ctx.exit(130)
        except BrokenPipeError:
            failures.reader_gone()
            ctx.exit(failures.EXIT_BROKEN_PIPE)
        except Exception as err:
            if ctx.find_root().params.get("debug"):
                raise
            failure = failures.describe(err)
            click.secho(f"error: {failure.message}", fg="red", err=True)
            ctx.exit(failure.exit_code)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="dsvmctl")
@click.option("--cloud", type=click.Choice(["local", "azure"]), envvar="DSVMCTL_CLOUD", default="local",
              show_default=True, help="local: the embedded emulated Azure on this machine (no account needed); "
              "azure: your subscription (DefaultAzureCredential + AZURE_SUBSCRIPTION_ID). Env: DSVMCTL_CLOUD.")
@click.option("--debug", is_flag=True, help="Show tracebacks and HTTP details.")
@click.option("--unsafe-unsandboxed", is_flag=True, envvar="DSVMCTL_UNSAFE_UNSANDBOXED",
              help="Local cloud: run local VMs' commands without a sandbox, on your own machine as you (they "
              "can read, change and delete your files and kill your processes). Only where neither bubblewrap "
              "nor unshare works. Env: DSVMCTL_UNSAFE_UNSANDBOXED=1.")
@click.pass_context
def cli(ctx: click.Context, cloud: str, debug: bool, unsafe_unsandboxed: bool) -> None:
    """Provision, resize and benchmark Azure Data Science VMs.

    \b
    Try it with no Azure account:   dsvmctl quickstart
    Validate team templates:        dsvmctl validate templates/
    Emulated Azure for your CI:     dsvmctl emulator serve --port 0 --state-dir .azure-emulator
    """
    ctx.ensure_object(dict)
    ctx.obj["cloud"] = cloud
    ctx.obj["debug"] = debug
    ctx.obj["unsafe_unsandboxed"] = unsafe_unsandboxed
    if not debug:
        # The Azure SDK logs warnings (credential chains, retries) that would bury our messages.
        logging.getLogger("azure").setLevel(logging.ERROR)


def _register_commands() -> None:
    for name in MODULES:
        importlib.import_module(f"{__package__}.commands.{name}").register(cli)


_register_commands()


def main() -> None:
    cli(prog_name="dsvmctl")


if __name__ == "__main__":
    main()
