"""The `dsvmctl` command line: a thin layer over the library.

Start-up must stay fast (`dsvmctl --help` in well under 150 ms), so nothing heavy is imported
here: each command imports what it needs when it runs.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, Callable

import click

from . import __version__
from .errors import DsvmctlError

OUTPUT_CHOICE = click.Choice(["table", "json"], case_sensitive=False)


def output_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("-o", "--output", type=OUTPUT_CHOICE, default="table", show_default=True,
                        help="table for people, json for scripts (one JSON document on stdout).")(func)


def emit_json(document: Any) -> None:
    click.echo(json.dumps(document, indent=2, default=str))


class Group(click.Group):
    """Turns DsvmctlError into a clean message and its exit code; --debug keeps the traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DsvmctlError as err:
            if ctx.find_root().params.get("debug"):
                raise
            click.secho(f"error: {err}", fg="red", err=True)
            ctx.exit(err.exit_code)
        except KeyboardInterrupt:
            click.secho("interrupted", fg="yellow", err=True)
            ctx.exit(130)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="dsvmctl")
@click.option("--cloud", type=click.Choice(["local", "azure"]), envvar="DSVMCTL_CLOUD", default="local",
              show_default=True, help="local: the embedded emulated Azure on this machine (no account needed); "
              "azure: your subscription (DefaultAzureCredential + AZURE_SUBSCRIPTION_ID). Env: DSVMCTL_CLOUD.")
@click.option("--debug", is_flag=True, help="Show tracebacks and HTTP details.")
@click.pass_context
def cli(ctx: click.Context, cloud: str, debug: bool) -> None:
    """Provision, resize and benchmark Azure Data Science VMs.

    \b
    Try it with no Azure account:   dsvmctl quickstart
    Validate team templates:        dsvmctl validate templates/
    Emulated Azure for your CI:     dsvmctl emulator serve --port 0 --state-dir .azure-emulator
    """
    ctx.ensure_object(dict)
    ctx.obj["cloud"] = cloud
    ctx.obj["debug"] = debug


# -- emulator ---------------------------------------------------------------------------------------

@cli.group()
def emulator() -> None:
    """The emulated Azure Resource Manager (for CI and offline work)."""


@emulator.command("serve")
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="TCP port on 127.0.0.1 (0 picks a free one; endpoint.json says which).")
@click.option("--state-dir", type=click.Path(file_okay=False), required=True,
              help="Where state, the CA certificate and endpoint.json live; state persists across restarts.")
@click.option("--operation-seconds", type=click.FloatRange(0), default=0.0, show_default=True,
              help="How long long-running operations take (0: done at the first poll).")
@click.option("--require-registration", is_flag=True,
              help="Refuse writes to an unregistered provider namespace (MissingSubscriptionRegistration).")
def emulator_serve(port: int, state_dir: str, operation_seconds: float, require_registration: bool) -> None:
    """Serve the emulator over HTTPS on 127.0.0.1 until stopped (Ctrl-C).

    \b
    When ready it writes STATE_DIR/endpoint.json with arm_endpoint, authority_host, ca_bundle,
    tenant_id, subscription_id, client_id and client_secret. Point azure-identity's
    ClientSecretCredential (authority=authority_host, connection_verify=ca_bundle,
    disable_instance_discovery=True) and azure-mgmt-* clients (base_url=arm_endpoint) at it.
    """
    import signal

    from .emulator.server import EmulatorServer

    server = EmulatorServer(state_dir, port, operation_seconds=operation_seconds,
                            require_registration=require_registration)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    click.echo(f"dsvmctl emulator listening on {server.base_url} (state in {state_dir}); Ctrl-C stops it.",
               err=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.httpd.server_close()
        (server.state_dir / "endpoint.json").unlink(missing_ok=True)


# -- validate ---------------------------------------------------------------------------------------

@cli.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("-p", "--parameters", "parameter_files", multiple=True, type=click.Path(),
              help="Parameter file(s) for the templates (default: NAME.parameters.json beside each).")
@click.option("--against-emulator", is_flag=True,
              help="Also run the Deployments validate and what-if calls against the emulated Azure.")
@output_option
def validate(paths: tuple[str, ...], parameter_files: tuple[str, ...], against_emulator: bool, output: str) -> None:
    """Check ARM templates offline: expand every expression, then lint the result.

    \b
    PATHS are template files or directories (default: templates/). Exit status:
      0  valid, no error-level findings
      1  invalid templates or error-level findings
      2  a file could not be used (missing, not JSON, not a template)
    Silence a rule for one template in its metadata:
      "metadata": {"dsvmctl": {"suppress": [{"rule": "DSVM004", "reason": "..."}]}}
    """
    from .arm import TemplateFileError, exit_code, validate_paths
    from .errors import UsageError

    try:
        report = validate_paths(list(paths) or ["templates"], list(parameter_files) or None)
    except TemplateFileError as err:
        raise UsageError(f"{err.file}: {err.message}" if err.file else err.message,
                         fix="give the path of an ARM template (JSON) or a directory holding some") from None
    if against_emulator:
        from .arm.emulated import check_against_emulator

        for entry in report["templates"]:
            if entry["valid"]:
                entry["emulator"] = check_against_emulator(entry["path"], list(parameter_files) or None)
    if output == "json":
        emit_json(report)
    else:
        _print_validation(report)
    code = exit_code(report)
    if against_emulator and any(e.get("emulator", {}).get("errors") for e in report["templates"]):
        code = max(code, 1)
    sys.exit(code)


def _print_validation(report: dict[str, Any]) -> None:
    colors = {"error": "red", "warning": "yellow", "info": "blue"}
    for entry in report["templates"]:
        errors, findings = entry["errors"], entry["findings"]
        bad = errors or any(f["severity"] == "error" for f in findings)
        status = click.style("FAIL" if bad else "ok", fg="red" if bad else "green")
        click.echo(f"{status}  {entry['path']}  ({len(entry['resources'])} resources)")
        for error in errors:
            click.echo(f"      {click.style(error['code'], fg='red')} {error['message']}"
                       + (f"  [{error['path']}]" if error.get("path") else ""))
        for finding in findings:
            click.echo(f"      {click.style(finding['rule'], fg=colors.get(finding['severity'], 'white'))} "
                       f"{finding['severity']}: {finding['message']}  [{finding['path']}]")
        emulated = entry.get("emulator")
        if emulated:
            for error in emulated.get("errors", []):
                click.echo(f"      emulator: {click.style(error['code'], fg='red')} {error['message']}")
            if emulated.get("what_if"):
                counts: dict[str, int] = {}
                for change in emulated["what_if"]:
                    counts[change["changeType"]] = counts.get(change["changeType"], 0) + 1
                click.echo("      emulator what-if: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))


def main() -> None:
    cli(prog_name="dsvmctl")


if __name__ == "__main__":
    main()
