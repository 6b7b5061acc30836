"""resize and resume: move a VM between CPU and GPU sizes keeping its OS disk."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from ..cloud.power import PowerState
from .common import emit, open_cloud, output_option, progress

if TYPE_CHECKING:
    from ..cloud.resize import ResizeResult

STEP_LINES = {
    "deallocate": "deallocate (release the hardware; OS and data disks are kept)",
    "resize": "resize to {size}",
    "start": "start",
}


def register(cli: click.Group) -> None:
    cli.add_command(resize)
    cli.add_command(resume)


@click.command()
@click.argument("name")
@click.option("--size", required=True, help="Target VM size, e.g. Standard_NC4as_T4_v3 (GPU) or Standard_D4ds_v5.")
@click.option("--dry-run", is_flag=True, help="Show the plan (steps, blockers with fixes, warnings); change nothing.")
@click.option("--start/--no-start", "start", default=None,
              help="End running (--start) or deallocated (--no-start). Default: the state the VM is in now.")
@click.option("--abandon", is_flag=True,
              help="Forget an unfinished resize to another size (its journal) and plan from the VM's actual state.")
@output_option
@click.pass_context
def resize(ctx, name, size, dry_run, start, abandon, output):
    """Resize NAME to SIZE, keeping its OS disk (and the files on it).

    \b
    Plans first, from what Azure reports: a size outside the VM's hardware cluster needs
    deallocate -> resize -> start; one inside it is a single resize (a running VM restarts).
    Refused before any change, with the fix, when Azure would refuse it: a temp disk on one
    size but not the other, a Gen2-only size for a Gen1 OS disk, too little quota, a size
    not offered to the subscription. Then checks that the OS disk is the same one (a marker
    file written before, read back after), and that Azure reports the new size.
    If Azure cannot start the VM on the new size (no capacity, quota), it goes back to its
    old size and is started again (exit 1).

    \b
    Interrupted (Ctrl-C, lost network, killed)? Run the same command again, or
    `dsvmctl resume NAME`: it continues from its journal and repeats no step.

    \b
    Exit codes: 0 done, 2 refused before any change, 1 failed, rolled back or stopped midway.
    Example: dsvmctl resize lab --size Standard_NC4as_T4_v3 --dry-run
    """
    from ..cloud.resize import ResizeIncomplete, ResizeRefused

    with open_cloud(ctx) as cloud, progress(output) as report:
        machine = cloud.machine(name)
        if hasattr(machine, "nodes"):  # a fleet: every node planned first, then resized in parallel
            return _resize_fleet(ctx, machine, size, dry_run, start, output, report)
        try:
            result = machine.resize(size, dry_run=dry_run, start=start, abandon=abandon, progress=report)
        except ResizeRefused as refused:
            _show(refused.result, output)
            ctx.exit(refused.exit_code)
        except ResizeIncomplete as stopped:
            _show(stopped.result, output, table=False)
            raise
    _show(result, output)
    if dry_run:
        ctx.exit(0 if result.kind != "impossible" else 2)
    if not result.succeeded:
        ctx.exit(1)


@click.command()
@click.argument("name")
@output_option
@click.pass_context
def resume(ctx, name, output):
    """Finish NAME's interrupted resize from its journal (no step is repeated).

    \b
    Each remaining step checks Azure first (already deallocated, already the new size,
    already running: skip), then the OS disk and marker file are verified as after any
    resize. Same exit codes as `dsvmctl resize`.
    """
    from ..cloud.resize import ResizeIncomplete

    with open_cloud(ctx) as cloud, progress(output) as report:
        if hasattr(cloud.machine(name), "nodes"):
            from ..cloud.fleet import resume_fleet

            result = resume_fleet(cloud.machine(name), progress=report)
            _show_fleet(result, output)
            ctx.exit(0 if result["verified"] else 1)
        try:
            result = cloud.machine(name).resume(progress=report)
        except ResizeIncomplete as stopped:
            _show(stopped.result, output, table=False)
            raise
    _show(result, output)
    if not result.succeeded:
        ctx.exit(1)


def _resize_fleet(ctx, fleet, size, dry_run, start, output, report) -> None:
    from ..cloud.fleet import FleetResizeRefused, resize_fleet

    try:
        result = resize_fleet(fleet, size, dry_run=dry_run, start=start, progress=report)
    except FleetResizeRefused as refused:
        emit(refused.result, output, table=lambda _: click.echo(str(refused), err=True))
        ctx.exit(2)
    _show_fleet(result, output)
    ctx.exit(0 if result.get("dry_run") or result["verified"] else 1)


def _show_fleet(result: dict[str, Any], output: str) -> None:
    emit(result, output, table=_fleet_text)


def _fleet_text(result: dict[str, Any]) -> None:
    if result.get("dry_run"):
        for plan in result["plans"]:
            click.echo(_plan_text(plan, done=False))
        click.echo("dry run: nothing was changed")
        return
    for node in result["nodes"]:
        if node.get("nothing_to_resume"):
            click.echo(f"{node['name']}: nothing to resume")
        elif node.get("error"):
            click.secho(f"{node['name']}: {node['error']}", fg="red")
        else:
            kept = node.get("checks", {}).get("os_disk_kept")
            click.echo(f"{node['name']}: {node.get('size')} {'verified' if node.get('verified') else 'NOT verified'}"
                       f"{', rolled back' if node.get('rolled_back') else ''}; OS disk kept: {kept}; "
                       f"marker: {node.get('marker')}")
    if result.get("failed"):
        click.echo(f"not done on {', '.join(result['failed'])}: `dsvmctl resume {result['name']}` finishes them")


# --- table output ---------------------------------------------------------------------------------------------


def _show(result: ResizeResult, output: str, table: bool = True) -> None:
    """JSON on stdout under -o json; else the plan and verification as text (errors go to stderr)."""
    emit(result, output, table=_result_text if table else None)


def _result_text(result: ResizeResult) -> None:
    if result.resumed:
        click.echo(f"resumed the resize of {result.name} from its journal")
    click.echo(_plan_text(result.plan, done=not result.dry_run and result.kind != "impossible"))
    if result.dry_run:
        unfinished = result.unfinished_resize
        if unfinished:
            click.echo(f"note: a resize to {unfinished['to']} is unfinished (journal {unfinished['journal']}); "
                       f"`dsvmctl resume {result.name}` finishes it")
        if result.kind != "impossible":
            click.echo("dry run: nothing was changed")
        return
    if result.kind in ("impossible", "noop"):
        return
    _verification_text(result)


def _plan_text(plan: dict[str, Any], done: bool) -> str:
    head = f"{plan['vm']}: {plan['from_size']} -> {plan['to_size']}"
    if plan["kind"] == "noop":
        return f"{head}: nothing to do, the VM already has that size"
    if plan["kind"] == "impossible":
        lines = [f"{head}: cannot resize; nothing was changed"]
        for blocker in plan["blockers"]:
            lines += [f"  - {blocker['message']}", f"    fix: {blocker['fix']}"]
    else:
        lines = [f"{head} ({'steps' if done else 'plan'}):"]
        lines += [f"  {n}. {STEP_LINES[step].format(size=plan['to_size'])}" for n, step in enumerate(plan["steps"], 1)]
        lines.append(f"  the VM ends {plan['end_state']}")
    lines += [f"  warning: {warning}" for warning in plan["warnings"]]
    return "\n".join(lines)


def _verification_text(result: ResizeResult) -> None:
    for step in result.steps or []:
        if step.get("skipped"):
            click.echo(f"  ({step['name']} skipped: {step['skipped']})")
    if result.rolled_back:
        click.secho(f"rolled back: {result.message}", fg="yellow")
    checks = result.checks or {}
    mark = {True: "ok  ", False: "FAIL"}
    click.echo(f"{mark[checks.get('os_disk_kept', False)]} OS disk kept: {result.os_disk_id_after}")
    click.echo(f"{mark[checks.get('size', False)]} size reported by Azure: {result.size}")
    click.echo(f"{mark[checks.get('power_state', False)]} power state: {result.power_state}")
    click.echo(f"{mark[checks.get('marker', False)]} marker file on the OS disk: {result.marker}")
    verdict = "verified" if result.verified else "NOT verified"
    deallocated = ", deallocated on the way" if result.deallocated else ""
    click.echo(f"{verdict} in {result.seconds:.1f} s{deallocated}; journal: {result.journal}")
    if not result.rolled_back and result.power_state is PowerState.DEALLOCATED:
        click.echo(f"{result.name} is deallocated: start it with `dsvmctl start {result.name}`")
