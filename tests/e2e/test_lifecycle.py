"""Provision and lifecycle on the local cloud, through the library and the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from dsvmctl import Cloud, EnvironmentSpec
from dsvmctl.cloud.preflight import PreflightError
from dsvmctl.errors import CloudError


@pytest.fixture
def cloud(tmp_path):
    with Cloud.local(home=tmp_path / "home") as cloud:
        yield cloud


def _writes(cloud) -> int:
    return sum(1 for method, _, _ in cloud.backend.emulator.request_log if method in ("PUT", "PATCH", "POST", "DELETE"))


def test_up_status_exec_stop_start_down_on_the_local_cloud(cloud):
    machine = cloud.up(EnvironmentSpec.from_dict({"name": "lab"}))
    state = machine.status()
    assert state.power_state == "running" and state.size == "Standard_D4ds_v5"
    assert state.to_json()["inbound_rules"] == [{"name": state.inbound_rules[0].name, "port": "22",
                                                 "source": "127.0.0.1/32", "protocol": "Tcp", "priority": 1000}]
    assert {"name", "size", "power_state", "os_disk_id", "public_ip", "ssh", "inbound_rules"} <= set(state.to_json())
    assert state.ssh.user == "azureuser"

    out = bytearray()
    assert machine.exec("echo kept > on-os-disk.txt && cat on-os-disk.txt", stdout=out.extend) == 0
    assert out.decode().strip() == "kept"

    stopped = machine.stop()
    assert stopped.power_state == "deallocated"
    with pytest.raises(CloudError, match="start it first"):
        machine.exec("true")

    started = machine.start()
    assert started.os_disk_id == state.os_disk_id
    out.clear()
    assert machine.exec("cat on-os-disk.txt", stdout=out.extend) == 0
    assert out.decode().strip() == "kept"  # same disk, same file; and the pinned host key still matched

    result = machine.down()
    assert any(r.endswith("/virtualMachines/lab") for r in result["deleted"])
    assert result["resource_group_deleted"] is True
    assert cloud.machines() == []
    assert cloud.backend.emulator.find("Microsoft.Compute/disks") == []


def test_up_twice_creates_nothing_new(cloud):
    spec = EnvironmentSpec.from_dict({"name": "lab"})
    cloud.up(spec)
    before = {k: v.get("etag") for k, v in cloud.backend.emulator.resources.items()}
    disk_before = cloud.machine("lab").status().os_disk_id
    cloud.up(spec)
    after = cloud.backend.emulator.resources
    assert set(after) == set(before)
    assert cloud.machine("lab").status().os_disk_id == disk_before


def test_interrupted_up_is_completed_by_running_it_again(cloud):
    spec = EnvironmentSpec.from_dict({"name": "lab"})
    # The VM cannot be placed: the deployment fails half way (network made, no VM).
    cloud.backend.emulator.faults.server_error("PUT", "/virtualMachines/lab$", status=400, times=1)
    with pytest.raises(CloudError):
        cloud.up(spec)
    assert cloud.backend.emulator.find("Microsoft.Network/networkInterfaces")
    assert not cloud.backend.emulator.find("Microsoft.Compute/virtualMachines")
    machine = cloud.up(spec)
    assert machine.status().power_state == "running"


def test_down_after_a_half_made_up_removes_the_parts(cloud):
    cloud.backend.emulator.faults.server_error("PUT", "/virtualMachines/lab$", status=400, times=1)
    with pytest.raises(CloudError):
        cloud.up(EnvironmentSpec.from_dict({"name": "lab"}))
    result = cloud.machine("lab").down()
    assert result["deleted"] and result["resource_group_deleted"] is True
    leftovers = [b for b in cloud.backend.emulator.resources.values()
                 if b.get("type") != "Microsoft.Resources/deployments"]
    assert leftovers == []


@pytest.mark.parametrize("overrides,needle", [
    ({"size": "Standard_D4s_v5", "gpu_size": "Standard_NC4as_T4_v3"},
     "Standard_D4s_v5 has no temp disk, so it can never be resized to Standard_NC4as_T4_v3|use Standard_D4ds_v5"),
    ({"size": "Standard_Z99_v9"}, "Standard_Z99_v9"),
    ({"size": "Standard_NC40ads_H100_v5", "gpu_size": ""}, "not available to your subscription"),
    ({"size": "Standard_NC24ads_A100_v4", "gpu_size": "", "image": "ubuntu-2204"}, "quota"),
    ({"image": "ubuntu-2004-gen1", "size": "Standard_D4ds_v5", "gpu_size": "Standard_NC24ads_A100_v4"}, "Gen2"),
])
def test_bad_requests_are_refused_before_any_write(cloud, overrides, needle):
    spec = EnvironmentSpec.from_dict({"name": "lab", **overrides})
    with pytest.raises(PreflightError) as err:
        cloud.up(spec)
    for fragment in needle.lower().split("|"):
        assert fragment in str(err.value).lower()
    assert "fix" in str(err.value).lower()
    assert _writes(cloud) == 0


def test_over_long_windows_name_is_refused_with_a_shorter_one_suggested():
    from dsvmctl.errors import UsageError

    with pytest.raises(UsageError) as err:
        EnvironmentSpec.from_dict({"name": "a-very-long-windows-dsvm", "image": "win-2022"})
    assert "15" in str(err.value)


def test_windows_dsvm_provisions_with_openssh_and_a_stored_password(cloud):
    machine = cloud.up(EnvironmentSpec.from_dict({"name": "winlab", "image": "win-2022"}))
    state = machine.status()
    assert state.power_state == "running" and state.os == "windows"
    password_file = cloud.store.dir("winlab") / "admin-password"
    assert oct(password_file.stat().st_mode & 0o777) == "0o600"
    assert password_file.read_text() not in json.dumps(state.to_json())
    run_commands = cloud.backend.emulator.find("Microsoft.Compute/virtualMachines/runCommands")
    assert any("OpenSSH.Server" in json.dumps(rc["properties"]) for rc in run_commands)
    with pytest.raises(CloudError, match="Windows"):
        machine.exec("whoami")
    machine.down()


def test_generated_keys_are_private(cloud):
    cloud.up(EnvironmentSpec.from_dict({"name": "lab"}))
    for name in ("id_ed25519", "host_ed25519"):
        assert oct((cloud.store.dir("lab") / name).stat().st_mode & 0o777) == "0o600"


def test_a_host_presenting_another_key_is_refused(cloud):
    from dsvmctl.cloud.machines import generate_ed25519
    from dsvmctl.remote.errors import HostKeyMismatch

    machine = cloud.up(EnvironmentSpec.from_dict({"name": "lab"}))
    machine.record.host_public_key = generate_ed25519("impostor")[1]
    with pytest.raises(HostKeyMismatch):
        machine.session(retries=0)


def test_gc_finds_and_removes_orphans(cloud):
    cloud.up(EnvironmentSpec.from_dict({"name": "lab"}))
    machine = cloud.machine("lab")
    machine.backend.compute.virtual_machines.begin_delete(machine.record.resource_group, "lab").result()
    from dsvmctl.cloud.gc import delete_orphans, find_orphans

    orphans = find_orphans(cloud.backend)
    kinds = sorted(o["type"].split("/")[-1] for o in orphans)
    assert kinds == ["disks", "networkInterfaces", "networkSecurityGroups", "publicIPAddresses", "schedules",
                     "virtualNetworks"]
    delete_orphans(cloud.backend, orphans)
    assert find_orphans(cloud.backend) == []


def _cli(*args: str, env_home, stdin: str | None = None, **env_extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DSVMCTL_HOME": str(env_home), "DSVMCTL_CLOUD": "local", **env_extra}
    return subprocess.run([sys.executable, "-m", "dsvmctl", *args], capture_output=True, text=True, env=env,
                          timeout=120, input=stdin, stdin=None if stdin is not None else subprocess.DEVNULL)


def test_cli_lifecycle_with_json_output(tmp_path):
    home = tmp_path / "cli-home"
    up = _cli("up", "lab", "-o", "json", env_home=home)
    assert up.returncode == 0, up.stderr
    state = json.loads(up.stdout)
    assert state["power_state"] == "running"
    status = json.loads(_cli("status", "lab", "-o", "json", env_home=home).stdout)
    assert status["os_disk_id"] == state["os_disk_id"]
    exec_run = _cli("exec", "lab", "--", "sh", "-c", "echo out; echo err >&2; exit 7", env_home=home)
    assert exec_run.returncode == 7 and exec_run.stdout.strip() == "out" and "err" in exec_run.stderr
    # Piped stdin reaches the command, as with ssh: through the agent (the fast path) and without it;
    # -n closes it.
    lines = "".join(f"line {i}\n" for i in range(20000))
    for agent in ("auto", "off"):
        piped = _cli("exec", "lab", "--", "wc", "-l", env_home=home, stdin=lines, DSVMCTL_AGENT=agent)
        assert (piped.returncode, piped.stdout.strip()) == (0, "20000"), (agent, piped.stderr)
    closed = _cli("exec", "-n", "lab", "--", "wc", "-l", env_home=home, stdin=lines)
    assert (closed.returncode, closed.stdout.strip()) == (0, "0"), closed.stderr
    listed = json.loads(_cli("list", "-o", "json", env_home=home).stdout)
    assert [m["name"] for m in listed["machines"]] == ["lab"]
    refused = _cli("down", "lab", env_home=home)  # no terminal, no --yes: refuses, deletes nothing
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert _cli("down", "lab", "--yes", env_home=home).returncode == 0
    assert json.loads(_cli("list", "-o", "json", env_home=home).stdout)["machines"] == []


def test_cli_refusal_is_a_message_not_a_traceback(tmp_path):
    result = _cli("up", "lab", "--size", "Standard_D4s_v5", "--gpu-size", "Standard_NC4as_T4_v3",
                  env_home=tmp_path / "h")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "use Standard_D4ds_v5" in result.stderr


def test_missing_azure_credentials_explain_how_to_log_in(tmp_path, monkeypatch):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AZURE_")}
    env.update(DSVMCTL_HOME=str(tmp_path), AZURE_SUBSCRIPTION_ID="00000000-0000-0000-0000-00000000beef",
               IDENTITY_ENDPOINT="", MSI_ENDPOINT="", PATH="/usr/bin:/bin")
    result = subprocess.run([sys.executable, "-m", "dsvmctl", "--cloud", "azure", "list"], capture_output=True,
                            text=True, env=env, timeout=120)
    assert result.returncode == 3
    assert "az login" in result.stderr and "--cloud local" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_subscription_explains_it(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AZURE_")}
    env["DSVMCTL_HOME"] = str(tmp_path)
    result = subprocess.run([sys.executable, "-m", "dsvmctl", "--cloud", "azure", "status", "x"],
                            capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 3 and "AZURE_SUBSCRIPTION_ID" in result.stderr


def test_what_if_lists_changes_by_name_and_changes_nothing(cloud):
    spec = EnvironmentSpec.from_dict({"name": "lab"})
    cloud.up(spec)
    before = {k: dict(v) for k, v in cloud.backend.emulator.resources.items()}
    changes = cloud.up(spec.with_overrides(size="Standard_D8ds_v5"), what_if=True)
    kinds = {c["resource_id"].rsplit("/", 2)[-2]: c["change_type"] for c in changes}
    assert kinds["virtualMachines"] == "Modify"
    assert {v for k, v in kinds.items() if k != "virtualMachines"} == {"NoChange"}
    assert cloud.machine("lab").status().size == "Standard_D4ds_v5"
    assert set(cloud.backend.emulator.resources) == set(before)


def test_sizes_lists_which_cpu_sizes_pair_with_which_gpu_sizes(tmp_path):
    result = _cli("sizes", "-o", "json", env_home=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)["sizes"]}
    assert "Standard_NC4as_T4_v3" in rows["Standard_D4ds_v5"]["gpu_partners"]
    assert rows["Standard_D4s_v5"]["gpu_partners"] == []          # no temp disk
    assert "Standard_NC24ads_A100_v4" not in rows["Standard_A1_v2"]["gpu_partners"]  # Gen1-only CPU size
    assert rows["Standard_NC40ads_H100_v5"]["restricted"] == "NotAvailableForSubscription"
    assert rows["Standard_NC24ads_A100_v4"]["quota_left"] == 0
