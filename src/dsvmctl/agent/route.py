"""The CLI's fast path: reach a machine through the running agent without opening the cloud
(no Azure SDK, no emulator, no paramiko in the CLI process). None means "take the normal path".
"""

from __future__ import annotations

import json
from typing import Any

from .client import AgentClient, AgentUnavailable, agent_enabled, ensure, find


def agent_target(cloud: str, name: str) -> tuple[AgentClient, dict[str, Any]] | None:
    if not agent_enabled():
        return None
    from ..paths import state_home

    home = state_home()
    # The record as cloud/machines.py writes it, read directly: MachineStore's imports cost more
    # than this whole path. A missing or odd record: the normal path explains.
    try:
        record = json.loads((home / "machines" / cloud / name / "machine.json").read_text())
    except (OSError, ValueError):
        return None
    if (record.get("os") or "").lower() == "windows" or (record.get("extra") or {}).get("fleet"):
        return None  # Windows, and a fleet's nodes, take the normal path
    target = {"name": record["name"], "user": record["admin_user"], "key_path": str(record["key_path"]),
              "host_key": record["host_public_key"]}
    try:
        if record.get("attached"):
            agent = ensure(home)
            target.update(host=record["ssh_host"], port=int(record.get("ssh_port") or 22))
        elif cloud == "local" and record.get("vm_id"):
            agent = find(home)  # no agent yet: the normal path starts it and hosts the VM
            if agent is None:
                return None
            port = agent.request("endpoint", vm_id=record["vm_id"])["port"]
            if port is None:
                return None  # not hosted (deallocated?): the normal path says why
            target.update(host="127.0.0.1", port=int(port), vm_id=record["vm_id"].lower())
        else:
            return None  # Azure: the address needs an ARM call
    except AgentUnavailable:
        return None
    return agent, target
