"""`dsvmctl validate`: check ARM templates offline (expand, lint, optionally the emulator)."""

from __future__ import annotations

import sys
from typing import Any

import click

from .common import emit, output_option


def register(cli: click.Group) -> None:
    cli.add_command(validate)


# -- validate ---------------------------------------------------------------------------------------

@click.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("-p", "--parameters", "parameter_files", multiple=True, type=click.Path(),
              help="Parameter file(s) for the templates (default: NAME.parameters.json beside each).")
@click.option("--against-emulator", is_flag=True,
              help="Also run the Deployments validate and what-if calls against the emulated Azure.")
@click.option("--template-uri", metavar="URI",
              help="Validate as a linked deployment from URI: deployment().properties.templateLink.uri is URI.")
@output_option
def validate(paths: tuple[str, ...], parameter_files: tuple[str, ...], against_emulator: bool, output: str,
             template_uri: str | None = None) -> None:
    """Check ARM templates offline: expand every expression, then lint the result.

    \b
    PATHS are template files or directories (default: templates/). Exit status:
      0  valid, no error-level findings
      1  invalid templates or error-level findings
      2  a file could not be used (missing, not JSON, not a template)
    Silence a rule for one template in its metadata:
      "metadata": {"dsvmctl": {"suppress": [{"rule": "DSVM004", "reason": "..."}]}}
    """
    from ..arm import TemplateFileError, exit_code, validate_paths
    from ..errors import UsageError

    try:
        report = validate_paths(list(paths) or ["templates"], list(parameter_files) or None, template_uri)
    except TemplateFileError as err:
        raise UsageError(f"{err.file}: {err.message}" if err.file else err.message,
                         fix="give the path of an ARM template (JSON) or a directory holding some") from None
    if against_emulator:
        from ..arm.emulated import check_against_emulator

        for entry in report["templates"]:
            if entry["valid"]:
                entry["emulator"] = check_against_emulator(entry["path"], list(parameter_files) or None)
    emit(report, output, table=_print_validation)
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


