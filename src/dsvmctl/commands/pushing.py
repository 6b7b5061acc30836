"""`push` through the agent, shared by the click command and the light entry point (no click)."""

from __future__ import annotations

from typing import Any


def push_via_agent(cloud: str, name: str, routed, src, dest) -> dict[str, Any]:
    from ..agent.session import AgentSession
    from ..cloud.machine import Machine
    from ..cloud.machines import MachineStore
    from ..cloud.workload import push as push_workload
    from ..paths import state_home

    agent, target = routed
    store = MachineStore(state_home(), cloud)
    machine = Machine(None, store, store.require(name))  # the record is all a push needs

    def direct():
        from ..remote import connect

        return connect(target["host"], target["port"], target["user"], target["key_path"], host_key=target["host_key"])

    return push_workload(machine, src, dest, session=AgentSession(agent, target, direct))
