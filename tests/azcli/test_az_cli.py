"""The unmodified Azure CLI against `dsvmctl emulator serve`: cloud register, service-principal
login, and the VM lifecycle through az's own generated templates.

az is installed into its own virtual environment (.venv-az, by scripts/install-test-deps.sh:
it pins its own SDK versions). Each az start costs about a second, so the steps share one
server and one login, grouped into a few tests that run in order.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
AZ = Path(os.environ.get("DSVMCTL_AZ", REPO / ".venv-az" / "bin" / "az"))

pytestmark = [pytest.mark.azcli, pytest.mark.slow]


class Az:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.log: list[tuple[str, int, float]] = []

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        started = time.monotonic()
        done = subprocess.run([str(AZ), *args], env=self.env, capture_output=True, text=True, timeout=180)
        self.log.append((" ".join(args[:3]), done.returncode, time.monotonic() - started))
        if check:
            assert done.returncode == 0, f"az {' '.join(args)} -> {done.returncode}\n{done.stderr[-3000:]}"
        return done

    def json(self, *args: str):
        return json.loads(self(*args, "-o", "json").stdout)


@pytest.fixture(scope="module")
def az(tmp_path_factory):
    if not AZ.exists():
        pytest.skip(f"the Azure CLI is not installed at {AZ}: run scripts/install-test-deps.sh")
    base = tmp_path_factory.mktemp("azcli")
    state = base / "state"
    env = {**os.environ, "DSVMCTL_HOME": str(base / "home")}
    server = subprocess.Popen([sys.executable, "-m", "dsvmctl", "emulator", "serve", "--port", "0",
                               "--state-dir", str(state)], env=env, stderr=subprocess.PIPE, text=True)
    try:
        endpoint_file = state / "endpoint.json"
        deadline = time.monotonic() + 30
        while not endpoint_file.exists() and time.monotonic() < deadline and server.poll() is None:
            time.sleep(0.05)
        assert endpoint_file.exists(), "the emulator wrote no endpoint.json"
        endpoint = json.loads(endpoint_file.read_text())
        ssh_key = base / "id_ed25519"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(ssh_key)], check=True)
        client = Az({**env, "AZURE_CONFIG_DIR": str(base / "az"), "AZURE_CORE_COLLECT_TELEMETRY": "false",
                     "AZURE_CORE_ONLY_SHOW_ERRORS": "true", "AZURE_CORE_NO_COLOR": "true",
                     "REQUESTS_CA_BUNDLE": endpoint["ca_bundle"], "ADAL_PYTHON_SSL_NO_VERIFY": "",
                     "SSL_CERT_FILE": endpoint["ca_bundle"]})
        client.endpoint, client.ssh_key = endpoint, f"{ssh_key}.pub"
        # The commands endpoint.json tells a user to paste, exactly as written there.
        for command in endpoint["az_commands"]:
            words = shlex.split(command)
            if words[0] == "az":
                client(*words[1:], "-o", "none")
        yield client
    finally:
        server.terminate()
        server.wait(timeout=10)
        timings = ", ".join(f"{c} {rc} {s:.1f}s" for c, rc, s in getattr(locals().get("client"), "log", []))
        print(f"\naz steps: {timings}")


def test_az_logs_in_with_the_commands_endpoint_json_gives(az):
    account = az.json("account", "show")
    assert account["id"] == az.endpoint["subscription_id"]
    assert account["user"]["type"] == "servicePrincipal"
    cloud = az.json("cloud", "show", "-n", "dsvmctl-emulator")
    assert cloud["endpoints"]["resourceManager"].rstrip("/") == az.endpoint["arm_endpoint"]
    assert cloud["endpoints"]["vmImageAliasDoc"].startswith(az.endpoint["arm_endpoint"])


def test_az_vm_lifecycle_keeps_the_os_disk_across_a_cpu_to_gpu_resize(az):
    az("group", "create", "-n", "rg-az", "-l", "eastus", "-o", "none")
    dsvm = az.json("vm", "create", "-g", "rg-az", "-n", "dsvm", "--image", "microsoft-dsvm:ubuntu-2204:2204-gen2:latest",
                   "--size", "Standard_D4ds_v5", "--admin-username", "azureuser", "--ssh-key-values", az.ssh_key)
    assert dsvm["powerState"] == "VM running"
    ubuntu = az.json("vm", "create", "-g", "rg-az", "-n", "ubuntu", "--image", "Ubuntu2204", "--size",
                     "Standard_DS1_v2", "--admin-username", "azureuser", "--ssh-key-values", az.ssh_key)
    assert ubuntu["powerState"] == "VM running"
    shown = az.json("vm", "show", "-g", "rg-az", "-n", "ubuntu")
    assert shown["storageProfile"]["imageReference"]["publisher"] == "Canonical"
    os_disk = az.json("vm", "show", "-g", "rg-az", "-n", "dsvm")["storageProfile"]["osDisk"]["managedDisk"]["id"]
    options = [s["name"] for s in az.json("vm", "list-vm-resize-options", "-g", "rg-az", "-n", "dsvm")]
    assert "Standard_D8ds_v5" in options
    az("vm", "deallocate", "-g", "rg-az", "-n", "dsvm")
    resized = az.json("vm", "resize", "-g", "rg-az", "-n", "dsvm", "--size", "Standard_NC4as_T4_v3")
    assert resized["hardwareProfile"]["vmSize"] == "Standard_NC4as_T4_v3"
    az("vm", "start", "-g", "rg-az", "-n", "dsvm")
    after = az.json("vm", "show", "-g", "rg-az", "-n", "dsvm", "-d")
    assert after["storageProfile"]["osDisk"]["managedDisk"]["id"] == os_disk
    assert after["powerState"] == "VM running"
    ran = az.json("vm", "run-command", "invoke", "-g", "rg-az", "-n", "dsvm", "--command-id", "RunShellScript",
                  "--scripts", "echo hello")
    assert ran["value"][0]["code"].startswith("ProvisioningState/succeeded")
    rule = az.json("network", "nsg", "rule", "create", "-g", "rg-az", "--nsg-name", "dsvmNSG", "-n", "web",
                   "--priority", "1001", "--destination-port-ranges", "80", "--access", "Allow", "--protocol", "Tcp")
    assert rule["access"] == "Allow" and rule["priority"] == 1001


def test_az_resource_commands_find_an_api_version_and_a_no_wait_deployment_can_be_cancelled(az):
    az("group", "create", "-n", "rg-res", "-l", "eastus", "-o", "none")
    nsg_id = az.json("network", "nsg", "create", "-g", "rg-res", "-n", "generic")["NewNSG"]["id"]
    assert az.json("resource", "show", "--ids", nsg_id)["name"] == "generic"  # api-version from the provider
    assert az.json("resource", "tag", "--ids", nsg_id, "--tags", "team=ml")["tags"] == {"team": "ml"}
    template = REPO / "templates" / "dsvm-ubuntu.json"
    common = ["-g", "rg-res", "-n", "slow", "--template-file", str(template),
              "--parameters", f"@{REPO / 'templates' / 'dsvm-ubuntu.parameters.json'}"]
    az("deployment", "group", "create", *common, "--no-wait")
    az("deployment", "group", "cancel", "-g", "rg-res", "-n", "slow")
    shown = az.json("deployment", "group", "show", "-g", "rg-res", "-n", "slow")
    assert shown["properties"]["provisioningState"] == "Canceled"
    assert az("deployment", "group", "cancel", "-g", "rg-res", "-n", "slow", check=False).returncode != 0
    az("resource", "delete", "--ids", nsg_id)
    az("group", "delete", "-n", "rg-res", "--yes")


def test_az_deploys_validates_and_what_ifs_the_shipped_template_then_deletes_the_group(az):
    template = REPO / "templates" / "dsvm-ubuntu.json"
    parameters = REPO / "templates" / "dsvm-ubuntu.parameters.json"
    az("group", "create", "-n", "rg-tpl", "-l", "eastus", "-o", "none")
    common = ["-g", "rg-tpl", "--template-file", str(template), "--parameters", f"@{parameters}"]
    az("deployment", "group", "validate", *common, "-o", "none")
    what_if = az.json("deployment", "group", "what-if", *common, "--no-pretty-print")
    assert {c["changeType"] for c in what_if["changes"]} == {"Create"}
    deployed = az.json("deployment", "group", "create", "-n", "dsvm", *common)
    assert deployed["properties"]["provisioningState"] == "Succeeded"
    az("group", "delete", "-n", "rg-tpl", "--yes")
    az("group", "delete", "-n", "rg-az", "--yes")
    assert az("group", "exists", "-n", "rg-tpl").stdout.strip() == "false"
