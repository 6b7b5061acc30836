"""The local cloud's VM hosts: each running emulated Linux VM gets an SSH server on 127.0.0.1.

Plugged into the emulator as a hook: it hears about power changes and disk deletions, so a
deallocated VM stops answering and a deleted disk's directory goes away. Hosts are started on
demand from what the VM was created with (`host_spec`): the host key from its cloud-init custom
data, the authorized keys from its osProfile, the port it was given when it started (kept in
the emulator's state, so it stays the same across commands and agent restarts).

Where a host runs: in the per-user agent (dsvmctl.agent), so the VM answers between commands,
as a cloud VM does; in this process when the agent is off (DSVMCTL_AGENT=off) or cannot start.

Every process of a running VM lives in that VM's sandbox (`emulator/sandbox.py`), which outlives
the SSH server, the agent and the dsvmctl process (a detached run goes on, as on a real VM): its
record is under `<state>/local-cloud/sandboxes/`. Start makes a fresh one; deallocate, power-off,
restart and delete kill everything in it. Where none can be made the VM does not boot, unless the
user chose `--unsafe-unsandboxed` (`unsandboxed=True`): then commands run on this machine as its user.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from ..emulator.sandbox import SandboxUnavailable, VMSandbox
from ..errors import CloudError, DsvmctlError
from .power import PowerState


class LocalHosts:
    def __init__(self, paths, unsandboxed: bool = False, use_agent: bool | None = None) -> None:
        from ..agent.client import agent_enabled
        from ..paths import StatePaths

        state = StatePaths.of(paths)
        self.home = state.root
        self.disks_root = state.disks
        self.sandboxes_root = state.local_cloud / "sandboxes"
        self.unsandboxed = unsandboxed
        self.use_agent = agent_enabled() if use_agent is None else use_agent
        self.hosts: dict[str, Any] = {}  # vm id (lower) -> LocalVMHost, the ones hosted in this process

    # -- emulator hooks ----------------------------------------------------------------------------

    def vm_started(self, em, vm: dict[str, Any]) -> None:
        """Powering on gives the VM its port (kept while it is free, as a VM keeps its address)."""
        self._power_off(vm["id"], f"VM {vm['name']} started")  # a start boots afresh: nothing lives on
        meta = em.meta_of(vm["id"])
        if not meta.get("ssh_port") or not port_is_free(int(meta["ssh_port"])):
            meta["ssh_port"] = free_port()

    def vm_stopped(self, em, vm: dict[str, Any], deallocated: bool) -> None:
        self._power_off(vm["id"], f"VM {vm['name']} was {'deallocated' if deallocated else 'stopped'}")

    def vm_deleted(self, em, vm: dict[str, Any]) -> None:
        self._power_off(vm["id"], f"VM {vm['name']} was deleted")

    def vm_restarted(self, em, vm: dict[str, Any]) -> None:
        # A restart ends every process and drops connections, as a reboot does.
        if self._power_off(vm["id"], f"VM {vm['name']} restarted"):
            self.ensure(em, vm)

    def disk_deleted(self, em, disk: dict[str, Any]) -> None:
        directory = self.disk_dir(disk)
        for record in self.sandboxes_root.glob("*.json"):  # whatever still runs on that disk
            try:
                disk_of = json.loads(record.read_text()).get("disk")
            except (OSError, ValueError, AttributeError):
                continue
            if disk_of == str(directory):
                VMSandbox.stop_recorded(record)
        shutil.rmtree(directory, ignore_errors=True)

    def run_command(self, em, vm: dict[str, Any], script: str, command_id: str) -> tuple[str, str] | None:
        """runCommand on a local Linux VM: the script runs in the VM's sandbox, in its admin user's home."""
        if em.meta_of(vm["id"]).get("os_type") == "Windows" or command_id.lower().startswith("runpowershell") \
                or _unmanaged(vm):
            return None  # no local disk to run it on: the emulator answers as Azure's agent would
        home = self._home(em, vm)
        home.mkdir(parents=True, exist_ok=True)
        sandbox = self.sandbox_of(em, vm)
        if sandbox is None:
            done = subprocess.run(["bash", "-c", script], cwd=home, capture_output=True, text=True, timeout=600,
                                  env={"HOME": str(home), "PATH": "/usr/local/bin:/usr/bin:/bin"})
            return done.stdout, done.stderr
        inside = f"/home/{home.name}"
        try:
            with sandbox.entering(inside) as (prefix, fds):
                done = subprocess.run([*prefix, "bash", "-c", script], cwd="/", capture_output=True, text=True,
                                      timeout=600, pass_fds=fds, env={"HOME": inside, "PATH": image_path()})
        except DsvmctlError as err:
            return "", f"dsvmctl: the script was not run: {err}"
        return done.stdout, done.stderr

    # -- hosts -------------------------------------------------------------------------------------

    def disk_dir(self, disk: dict[str, Any]) -> Path:
        return self.disks_root / disk["properties"]["uniqueId"]

    def _home(self, em, vm: dict[str, Any]) -> Path:
        disk = em.get(vm["properties"]["storageProfile"]["osDisk"]["managedDisk"]["id"])
        user = vm["properties"].get("osProfile", {}).get("adminUsername", "azureuser")
        return self.disk_dir(disk) / "home" / user

    def ensure(self, em, vm: dict[str, Any]) -> int:
        """Start (if needed) the SSH server of a running VM; return its port on 127.0.0.1."""
        key = vm["id"].lower()
        spec = host_spec(em, vm, self.disks_root)
        host = self.hosts.get(key)
        if host is not None and host.running:
            return host.port
        sandbox = self.sandbox_of(em, vm)
        if sandbox is not None:  # made (or found) here, so a refusal reaches this command's user
            try:
                sandbox.ensure()
            except SandboxUnavailable as err:
                raise SandboxUnavailable(f"local VM {vm['name']} cannot boot: {err.message}", fix=err.fix) from None
            spec["sandbox"] = sandbox_spec(sandbox)
        if self.use_agent:
            from ..agent.client import AgentUnavailable, ensure

            try:
                return int(ensure(self.home).request("host", spec=spec)["port"])
            except AgentUnavailable as exc:
                print(f"dsvmctl: no agent ({exc}); VM {vm['name']} answers only while this command runs",
                      file=sys.stderr)
                self.use_agent = False
        from ..emulator.vmhost import LocalVMHost

        # In-process, another command (or another Cloud in this process) may host the same VM
        # right now on its port: then this one takes any free port, for as long as it runs.
        host = LocalVMHost(Path(spec["disk_dir"]), spec["host_key"], spec["authorized_keys"], spec["admin_user"],
                           port=spec["port"], path=spec["path"], sandbox=sandbox or False)
        host.start()
        self.hosts[key] = host
        return host.port

    # -- sandboxes ---------------------------------------------------------------------------------

    def sandbox_of(self, em, vm: dict[str, Any]) -> VMSandbox | None:
        """The VM's sandbox (made on first use); None when the user chose to run unsandboxed."""
        if self.unsandboxed:
            return None
        disk = em.get(vm["properties"]["storageProfile"]["osDisk"]["managedDisk"]["id"])
        return VMSandbox(self.disk_dir(disk), self._sandbox_record_of(vm["id"]), exclude=[self.home])

    def _sandbox_record_of(self, vm_id: str) -> Path:
        return self.sandboxes_root / (hashlib.sha256(vm_id.lower().encode()).hexdigest()[:24] + ".json")

    def _power_off(self, vm_id: str, reason: str) -> bool:
        """Stop the VM's SSH server (here and in the agent) and every process of the VM; True when
        a server was running."""
        serving = self._stop(vm_id, reason)
        VMSandbox.stop_recorded(self._sandbox_record_of(vm_id))
        return serving

    def _stop(self, vm_id: str, reason: str = "stopped") -> bool:
        """Stop the VM's host, here and in the agent; True when one was running."""
        host = self.hosts.pop(vm_id.lower(), None)
        if host is not None:
            host.stop()
        stopped = host is not None
        if self.use_agent:
            from ..agent.client import find

            agent = find(self.home)  # never start an agent just to tell it nothing runs
            if agent is not None:
                stopped = bool(agent.request("unhost", vm_id=vm_id, reason=reason).get("stopped")) or stopped
        return stopped

    def close(self) -> None:
        """Stop this process's SSH servers; the VMs (and their sandboxes) keep running."""
        for vm_id in list(self.hosts):
            host = self.hosts.pop(vm_id)
            host.stop()


def sandbox_spec(sandbox: VMSandbox) -> dict[str, Any]:
    """A VM's sandbox as JSON, so the agent hosting its SSH server enters the same one."""
    return {"disk_dir": str(sandbox.disk_dir), "record": str(sandbox.record), "exclude": [str(p) for p in sandbox.exclude]}


def sandbox_from_spec(spec: dict[str, Any] | None) -> VMSandbox | bool:
    if not spec:
        return False
    return VMSandbox(Path(spec["disk_dir"]), Path(spec["record"]), exclude=[Path(p) for p in spec["exclude"]])


def host_spec(em, vm: dict[str, Any], disks_root: Path) -> dict[str, Any]:
    """What an SSH server for this running VM needs (JSON, so the agent can be sent it)."""
    meta = em.meta_of(vm["id"])
    if PowerState.parse(meta.get("power")) is not PowerState.RUNNING:  # the emulator keeps Azure's words
        raise CloudError(f"VM {vm['name']} is {meta.get('power', 'not running')}: it does not answer SSH",
                         fix=f"start it first: dsvmctl start {vm['name']}")
    if _unmanaged(vm):
        raise CloudError(f"VM {vm['name']} has an unmanaged (VHD) OS disk: the local cloud runs hosts only on "
                         "managed disks", fix="create it with a managed OS disk (no storageProfile.osDisk.vhd)")
    if meta.get("os_type") == "Windows":
        raise CloudError(f"VM {vm['name']} is a Windows DSVM: the local cloud emulates its provisioning but "
                         "runs no Windows guest, so there is no SSH server to reach",
                         fix="use an Ubuntu image on the local cloud, or --cloud azure for Windows")
    profile = vm["properties"].get("osProfile", {})
    keys = [k["keyData"] for k in profile.get("linuxConfiguration", {}).get("ssh", {}).get("publicKeys", [])]
    host_key = _host_key_from_custom_data(meta.get("custom_data"))
    if host_key is None:
        raise CloudError(f"VM {vm['name']} was created without an SSH host key in its custom data, so its "
                         "host key cannot be pinned", fix="recreate it with dsvmctl up")
    disk = em.get(vm["properties"]["storageProfile"]["osDisk"]["managedDisk"]["id"])
    return {"vm_id": vm["id"].lower(), "name": vm["name"], "disk_dir": str(disks_root / disk["properties"]["uniqueId"]),
            "host_key": host_key, "authorized_keys": keys, "admin_user": profile.get("adminUsername", "azureuser"),
            "port": int(meta.get("ssh_port") or 0), "path": image_path()}


def _unmanaged(vm: dict[str, Any]) -> bool:
    return "managedDisk" not in vm["properties"]["storageProfile"]["osDisk"]


def port_taken_error(name: str, port: int) -> CloudError:
    return CloudError(f"127.0.0.1:{port}, the SSH port of VM {name}, is taken by another program, so the VM "
                      "cannot answer there",
                      fix=f"stop that program (`ss -ltnp 'sport = :{port}'` names it), or give the VM a new port "
                          f"with `dsvmctl stop {name} && dsvmctl start {name}`")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def image_path() -> str:
    """PATH on a local VM. Its "image" is this machine; as a DSVM puts its conda environment
    with torch first, a local VM puts first the Python environment dsvmctl runs in (which has
    torch when installed with the `workload` extra)."""
    return os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "/usr/bin:/bin")])


def _host_key_from_custom_data(custom_data: str | None) -> str | None:
    """The ed25519 private host key in cloud-init custom data ('#cloud-config' + JSON, base64)."""
    if not custom_data:
        return None
    try:
        text = base64.b64decode(custom_data).decode()
        body = text.split("\n", 1)[1] if text.startswith("#cloud-config") else text
        return json.loads(body).get("ssh_keys", {}).get("ed25519_private")
    except (ValueError, IndexError, AttributeError):
        return None
