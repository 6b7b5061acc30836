"""The fleet side of run, logs, collect and push (cloud/distributed.py); the commands in
remote.py hand a fleet's NAME over to these."""

from __future__ import annotations

import sys
from typing import Any

import click

from .common import emit_json


def is_fleet(cloud, name: str) -> bool:
    from ..cloud.fleet import is_fleet as record_is_fleet

    record = cloud.store.load(name)
    return record is not None and record_is_fleet(record)


def run(cloud, name: str, *, workload: str, device: str, args: list[str], nodes: int | None,
        procs_per_node: str, port: int, max_restarts: int, detach: bool, timeout: float | None,
        output: str) -> None:
    from ..cloud import distributed

    def report(message: str) -> None:
        click.echo(f"- {message}", err=True)

    json_mode = output == "json"
    result = distributed.run(cloud.machine(name), workload, nodes=nodes, procs_per_node=procs_per_node,
                             device=device, args=args, port=port, max_restarts=max_restarts, detach=detach,
                             timeout=timeout, stdout=sys.stderr.buffer if json_mode else None, progress=report)
    if json_mode:
        emit_json(result)
    elif detach:
        click.echo(f"run {result['run_id']} started on {result['nodes']} nodes of {name}")
        click.echo(f"follow:   dsvmctl logs {name} {result['run_id']} --follow")
        click.echo(f"collect:  dsvmctl collect {name} {result['run_id']}")
    elif result["exit_code"] == 0:
        click.echo(f"run {result['run_id']} finished on {result['nodes']} nodes (world size "
                   f"{result['world_size']}); get its metrics with `dsvmctl collect {name} {result['run_id']}`",
                   err=True)
    else:
        click.echo(f"run {result['run_id']} failed: {result.get('error') or result['exit_code']}", err=True)
    if not detach:
        sys.exit(result["exit_code"])


def logs(cloud, name: str, run_id: str | None, follow: bool) -> dict[str, Any]:
    from ..cloud import distributed

    return distributed.logs(cloud.machine(name), run_id, follow)


def collect(cloud, name: str, run_id: str | None, output: str) -> None:
    from ..cloud import distributed

    result = distributed.collect(cloud.machine(name), run_id)
    if output == "json":
        emit_json(result)
        return
    click.echo(f"run {result['run_id']} ({result['nodes']} nodes) -> {result['dir']}")
    for node in result["nodes_collected"]:
        click.echo(f"  node {node['node']} ({node['machine']}): {len(node['files'])} files")
    click.echo(f"  metrics: {result['metrics'] or 'none (the run did not finish; see its logs)'}")


def push(cloud, name: str, src, dest) -> list[dict[str, Any]]:
    from ..cloud import workload
    from ..cloud.fleet import in_parallel

    nodes = cloud.machine(name).nodes()
    sessions = [m.session() for m in nodes]
    try:
        return in_parallel(lambda pair: workload.push(pair[0], src, dest, session=pair[1]), list(zip(nodes, sessions)))
    finally:
        for session in sessions:
            session.close()
