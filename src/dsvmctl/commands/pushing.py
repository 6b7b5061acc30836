"""`push` through the agent, shared by the click command and the light entry point (no click).

Kept light: in an unchanged re-push this process's own work is most of the cost, so it reads
nothing but what agent.route already read and imports neither the cloud layer nor paramiko.
The agent checks the destination and defaults it (dsvmctl/workloads), then pushes.
"""

from __future__ import annotations

from pathlib import Path

from ..cloud.results import PushResult


def push_via_agent(cloud: str, name: str, routed, src, dest) -> PushResult:
    from ..cloud.pushsource import push_source
    from ..paths import StatePaths

    agent, target = routed
    cache = StatePaths.default().cache  # what Machine.paths.cache is, without loading the machine
    root, ignore = push_source(src, cache)
    summary = agent.push(target, str(Path(root).resolve()), dest, ignore, str(cache))
    return PushResult.of(summary, str(root), name)
