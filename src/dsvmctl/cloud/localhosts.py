"""The local cloud's VM hosts: each running emulated Linux VM gets an SSH server on 127.0.0.1.

Plugged into the emulator as a hook: it hears about power changes and disk deletions, so a
deallocated VM stops answering and a deleted disk's directory goes away. Hosts are started on
demand, inside the dsvmctl process that needs one (no daemon), from what the VM was created
with: the host key from its cloud-init custom data, the authorized keys from its osProfile.

Every process of a running VM lives in that VM's sandbox (`emulator/sandbox.py`), which outlives
the SSH server and the dsvmctl process (a detached run goes on, as on a real VM): its record is
under `<state>/local-cloud/sandboxes/`. Start makes a fresh one; deallocate, power-off, restart
and delete kill everything in it. Where none can be made the VM does not boot, unless the user
chose `--unsafe-unsandboxed` (`unsandboxed=True`): then commands run on this machine as its user.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from ..emulator.sandbox import SandboxUnavailable, VMSandbox
from ..errors import CloudError, DsvmctlError


class LocalHosts:
    def __init__(self, paths, unsandboxed: bool = False) -> None:
        from ..paths import StatePaths

        state = StatePaths.of(paths)
        self.home = state.root
        self.disks_root = state.disks
        self.sandboxes_root = state.local_cloud / "sandboxes"
        self.unsandboxed = unsandboxed
        self.hosts: dict[str, Any] = {}  # vm id (lower) -> LocalVMHost

    # -- emulator hooks ----------------------------------------------------------------------------

    def vm_started(self, em, vm: dict[str, Any]) -> None:
        self._power_off(vm["id"])  # a start boots afresh: nothing left over from an earlier run lives on

    def vm_stopped(self, em, vm: dict[str, Any], deallocated: bool) -> None:
        self._power_off(vm["id"])

    def vm_deleted(self, em, vm: dict[str, Any]) -> None:
        self._power_off(vm["id"])

    def vm_restarted(self, em, vm: dict[str, Any]) -> None:
        serving = vm["id"].lower() in self.hosts
        self._power_off(vm["id"])  # a restart ends every process and drops connections, as a reboot does
        if serving:
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
        if em.meta_of(vm["id"]).get("os_type") == "Windows" or command_id.lower().startswith("runpowershell"):
            return None
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
        meta = em.meta_of(vm["id"])
        if meta.get("power") != "running":
            raise CloudError(f"VM {vm['name']} is {meta.get('power', 'not running')}: it does not answer SSH",
                             fix=f"start it first: dsvmctl start {vm['name']}")
        if meta.get("os_type") == "Windows":
            raise CloudError(f"VM {vm['name']} is a Windows DSVM: the local cloud emulates its provisioning but "
                             "runs no Windows guest, so there is no SSH server to reach",
                             fix="use an Ubuntu image on the local cloud, or --cloud azure for Windows")
        host = self.hosts.get(key)
        if host is not None and host.running:
            return host.port
        from ..emulator.vmhost import LocalVMHost

        profile = vm["properties"].get("osProfile", {})
        keys = [k["keyData"] for k in profile.get("linuxConfiguration", {}).get("ssh", {}).get("publicKeys", [])]
        host_key = _host_key_from_custom_data(meta.get("custom_data"))
        if host_key is None:
            raise CloudError(f"VM {vm['name']} was created without an SSH host key in its custom data, so its "
                             "host key cannot be pinned", fix="recreate it with dsvmctl up")
        sandbox = self.sandbox_of(em, vm)
        if sandbox is not None:
            try:
                sandbox.ensure()
            except SandboxUnavailable as err:
                raise SandboxUnavailable(f"local VM {vm['name']} cannot boot: {err.message}", fix=err.fix) from None
        disk = em.get(vm["properties"]["storageProfile"]["osDisk"]["managedDisk"]["id"])
        host = LocalVMHost(self.disk_dir(disk), host_key, keys, profile.get("adminUsername", "azureuser"),
                           path=image_path(), sandbox=sandbox or False)
        host.start()
        self.hosts[key] = host
        return host.port

    # -- sandboxes ---------------------------------------------------------------------------------

    def sandbox_of(self, em, vm: dict[str, Any]) -> VMSandbox | None:
        """The VM's sandbox (made on first use); None when the user chose to run unsandboxed."""
        if self.unsandboxed:
            return None
        disk = em.get(vm["properties"]["storageProfile"]["osDisk"]["managedDisk"]["id"])
        return self._sandbox(self.disk_dir(disk), self._sandbox_record_of(vm["id"]))

    def _sandbox(self, disk_dir: Path, record: Path) -> VMSandbox:
        return VMSandbox(disk_dir, record, exclude=[self.home])

    def _sandbox_record_of(self, vm_id: str) -> Path:
        return self.sandboxes_root / (hashlib.sha256(vm_id.lower().encode()).hexdigest()[:24] + ".json")

    def _power_off(self, vm_id: str) -> None:
        """Stop the VM's SSH server and every process of the VM (whichever process started them)."""
        self._stop(vm_id)
        VMSandbox.stop_recorded(self._sandbox_record_of(vm_id))

    def _stop(self, vm_id: str) -> None:
        host = self.hosts.pop(vm_id.lower(), None)
        if host is not None:
            host.stop()

    def close(self) -> None:
        """Stop this process's SSH servers; the VMs (and their sandboxes) keep running."""
        for vm_id in list(self.hosts):
            self._stop(vm_id)


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
