"""GPU-vs-CPU benchmarking: bench, report, and quickstart (the main job, on the local cloud)."""

from __future__ import annotations

import sys

import click

from .common import emit, open_cloud, output_option, progress

WORKLOAD_CHOICE = click.Choice(["transformer", "cnn"])


def register(cli: click.Group) -> None:
    for command in (bench, report, quickstart, prices):
        cli.add_command(command)


def _print_result(result: dict, paths: dict | None = None) -> None:
    from rich.console import Console

    from ..bench.report import render_table

    console = Console()
    if not console.is_terminal:
        console.width = 160  # a log file or a pipe: do not squeeze the table to 80 columns
    console.print(render_table(result["runs"], result["comparison"]))  # notes are in its caption
    if paths:
        for kind, path in paths.items():
            console.print(f"{kind}: {path}")


def _json(result: dict, paths: dict | None = None) -> dict:
    from ..bench.report import to_json

    document = to_json(result["runs"], result["comparison"])
    document["comparison_id"] = result["comparison_id"]
    document["resizes"] = result["resizes"]
    if paths:
        document["report"] = paths
    return document


@click.command()
@click.argument("name")
@click.option("--cpu-size", default="Standard_D4ds_v5", show_default=True, help="The CPU size to run on first.")
@click.option("--gpu-size", default="Standard_NC4as_T4_v3", show_default=True, help="The GPU size to compare.")
@click.option("--workload", type=WORKLOAD_CHOICE, default="transformer", show_default=True)
@click.option("--steps", type=click.IntRange(1), help="Timed steps per run (default: the workload's).")
@click.option("--return", "return_to_cpu", is_flag=True, help="Resize back to the CPU size at the end.")
@click.option("--nodes", "node_counts", metavar="1,2,4",
              help="A fleet: scaling bench, the workload at each node count (torchrun), instead of CPU vs GPU.")
@click.option("--size", help="With --nodes: resize every node to SIZE first.")
@click.option("--port", type=int, default=29400, show_default=True, help="With --nodes: rendezvous port.")
@output_option
@click.argument("extra", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def bench(ctx, name, cpu_size, gpu_size, workload, steps, return_to_cpu, node_counts, size, port, output, extra):
    """Run the workload on NAME at the CPU size, resize to the GPU size, run again, compare.

    \b
    The OS disk is kept (and checked) across the resize; both runs are stored in the results
    database; the report names the device each run really used, its speed and its cost per
    1,000 steps. Extra workload flags go after --, e.g.: -- --batch-size 64
    """
    from ..bench.orchestrate import bench as run_bench, results_store, write_report

    args = list(extra) + (["--steps", str(steps)] if steps else [])
    if node_counts:
        return _scaling(ctx, name, node_counts, size, port, workload, args, output)
    with open_cloud(ctx) as cloud, progress(output) as report:
        machine = cloud.machine(name)
        result = run_bench(machine, cpu_size=cpu_size, gpu_size=gpu_size, workload=workload, args=args,
                           return_to_cpu=return_to_cpu, store=results_store(cloud.home), progress=report,
                           stream=_workload_stream(output))
        paths = write_report(cloud.home, result)
    emit(_json(result, paths), output, table=lambda _: _print_result(result, paths))
    if any(run.status != "ok" for run in result["runs"]):
        sys.exit(1)


def _scaling(ctx, name, node_counts, size, port, workload, args, output) -> None:
    from ..bench.orchestrate import results_store
    from ..bench.report import to_json
    from ..bench.scaling import parse_counts, scaling_bench, write_report
    from ..errors import UsageError

    counts = parse_counts(node_counts)
    with open_cloud(ctx) as cloud, progress(output) as report:
        fleet = cloud.machine(name)
        if not hasattr(fleet, "nodes"):
            raise UsageError(f"{name} is a single VM: a scaling bench needs a fleet",
                             fix=f"dsvmctl up NAME --nodes {max(counts)}")
        result = scaling_bench(fleet, node_counts=counts, workload=workload, args=args, size=size, port=port,
                               store=results_store(cloud.home), progress=report,
                               stream=_workload_stream(output, binary=True))
        paths = write_report(cloud.home, result)
    document = {"comparison_id": result["comparison_id"], "fleet": name, "size": result["size"],
                "scaling": result["scaling"], "runs": to_json(result["runs"])["runs"], "report": paths}
    emit(document, output, table=lambda _: _print_scaling(result, paths))
    if any(run.status != "ok" for run in result["runs"]):
        sys.exit(1)


def _print_scaling(result, paths: dict[str, str]) -> None:
    from ..bench.scaling import to_markdown

    click.echo(to_markdown(result))
    for kind, path in paths.items():
        click.echo(f"{kind}: {path}")


def _workload_stream(output: str, binary: bool = False):
    """Where the workload's live output goes: stderr, or nowhere under -o json."""
    if output == "json":
        return _Discard()
    return sys.stderr.buffer if binary else sys.stderr


class _Discard:
    """Where workload progress goes under -o json (stdout holds one JSON document only)."""

    def write(self, data) -> int:
        return len(data)

    def flush(self) -> None: ...


@click.command()
@click.argument("run_ids", nargs=-1)
@click.option("-o", "--output", type=click.Choice(["table", "json", "md"]), default="table", show_default=True)
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), help="Also write a PNG plot here.")
@click.option("--last", type=click.IntRange(1), default=10, show_default=True, help="How many recent runs.")
@click.pass_context
def report(ctx, run_ids, output, plot_path, last):
    """Past runs from the results database, side by side (RUN_IDS, or the most recent)."""
    from ..bench.compare import compare_runs
    from ..bench.orchestrate import results_store
    from ..bench.report import plot, to_json, to_markdown
    from ..errors import UsageError
    from ..paths import state_home

    store = results_store(state_home())
    if run_ids:
        runs = [store.get(run_id) for run_id in run_ids]
        missing = [run_id for run_id, run in zip(run_ids, runs) if run is None]
        if missing:
            raise UsageError(f"no run with id {', '.join(missing)}", fix="list recent runs with `dsvmctl report`")
    else:
        runs = store.list(limit=last)
    comparison = compare_runs(runs) if len({r.comparison_id for r in runs}) == 1 and len(runs) >= 2 else None
    if plot_path and runs:
        plot(runs, plot_path, comparison)
    if output == "md":
        click.echo(to_markdown(runs, comparison))
        return

    def table(_document: dict) -> None:
        if not runs:
            click.echo("no runs yet: dsvmctl bench NAME, or dsvmctl quickstart")
            return
        _print_result({"runs": runs, "comparison": comparison} if comparison else {"runs": runs,
                      "comparison": compare_runs(runs)}, {"plot": plot_path} if plot_path else None)

    emit(to_json(runs, comparison), output, table=table)


@click.command()
@click.option("--name", default="quickstart", show_default=True, help="Name of the demo VM.")
@click.option("--workload", type=WORKLOAD_CHOICE, default="transformer", show_default=True)
@click.option("--keep", is_flag=True, help="Keep the VM at the end (default: delete it).")
@output_option
@click.pass_context
def quickstart(ctx, name, workload, keep, output):
    """The whole job on the embedded local cloud, in about two minutes, no Azure account needed.

    \b
    1. up: an Ubuntu 22.04 DSVM on a CPU size (Standard_D4ds_v5), SSH host key pinned
    2. push the bundled PyTorch workload
    3. bench: run on the CPU size, resize to Standard_NC4as_T4_v3 keeping the OS disk, run again
    4. report: speed, device really used, cost per 1,000 steps (a PNG plot when matplotlib is there)
    5. down: delete the VM and everything made for it (unless --keep)

    On a machine without a GPU the "GPU size" run uses the CPU, and the report says so.
    """
    from ..bench.quickstart import quickstart as run_quickstart, require_local

    require_local(ctx.find_root().obj["cloud"])  # before opening the cloud: no Azure login for a refusal
    stream = _workload_stream(output)
    with open_cloud(ctx) as cloud, progress(output) as report:
        result = run_quickstart(cloud, name=name, workload=workload, keep=keep, progress=report, stream=stream)
    emit(result, output, table=_print_quickstart)
    if not result.ok:
        sys.exit(1)


def _print_quickstart(result) -> None:
    _print_result(result.bench, result.report_paths)
    click.echo(f"done in {result.seconds} s; OS disk kept across the resize: {result.os_disk_kept}")


@click.command()
@click.argument("sizes", nargs=-1)
@click.option("--location", default="eastus", show_default=True)
@click.option("--refresh", is_flag=True, help="Fetch current prices from Azure's public Retail Prices API first.")
@output_option
def prices(sizes, location, refresh, output):
    """Hourly prices used in reports (Linux pay-as-you-go), with their source and date.

    \b
    Without --refresh: the bundled snapshot (eastus), or what an earlier --refresh fetched.
    With --refresh: ask prices.azure.com (no login needed) and keep the answer for bench/report.
    """
    from ..bench.orchestrate import prices_cache
    from ..bench.prices import PricesUnavailable, price_per_hour, refresh_from_retail_api
    from ..catalog.sizes import SIZES
    from ..paths import state_home

    names = list(sizes) or [s.name for s in SIZES.values() if not s.retired]
    cache = prices_cache(state_home())
    problem = None
    if refresh:
        try:
            refresh_from_retail_api(names, location, cache)
        except PricesUnavailable as err:
            problem = str(err)
    quotes = [price_per_hour(name, location, cache_path=cache) for name in names]
    rows = [{"size": q.size, "price_per_hour": q.price_per_hour, "currency": q.currency, "source": q.source,
             "as_of": q.as_of} for q in quotes]

    def table(_document: dict) -> None:
        for row in rows:
            price = f"{row['price_per_hour']:.3f} {row['currency']}/h" if row["price_per_hour"] is not None else "unknown"
            click.echo(f"{row['size']:<28}{price:>16}   {row['source']}" + (f", {row['as_of']}" if row["as_of"] else ""))

    emit({"location": location, "prices": rows, "refresh_error": problem}, output, table=table)
    if problem:
        click.secho(f"warning: {problem}", fg="yellow", err=True)
        sys.exit(1)
