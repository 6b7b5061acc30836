"""The templates dsvmctl ships: valid, clean under every lint rule, and the rules catch a
deliberately unsafe copy of each."""

from __future__ import annotations

import base64
import copy
import json
import time
from pathlib import Path

import pytest

from dsvmctl.arm import expand, load_parameters, load_template
from dsvmctl.arm.lint import lint

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
NAMES = ["dsvm-ubuntu", "dsvm-windows"]
WINDOWS_PARAMS = {"adminPassword": {"value": "Example-Passw0rd-123"}}


def load(name):
    template = load_template(TEMPLATES / f"{name}.json")
    parameters = load_parameters(TEMPLATES / f"{name}.parameters.json")
    if name == "dsvm-windows":
        parameters.update(WINDOWS_PARAMS)
    return template, parameters


def rules_of(template, parameters):
    return {f.rule for f in lint(template, expand(template, parameters))}


def vm_of(expansion):
    return expansion.find("Microsoft.Compute/virtualMachines")[0]


@pytest.mark.parametrize("name", NAMES)
def test_shipped_template_has_no_error_or_warning_findings(name):
    template, parameters = load(name)
    findings = lint(template, expand(template, parameters))
    assert [f for f in findings if f.severity in ("error", "warning")] == []


@pytest.mark.parametrize("name", NAMES)
def test_shipped_template_tags_every_resource_as_dsvmctl_managed(name):
    template, parameters = load(name)
    expansion = expand(template, parameters)
    machine = vm_of(expansion).name
    for res in expansion.resources:
        assert res.body["tags"]["dsvmctl-managed"] == "true"
        assert res.body["tags"]["dsvmctl-machine"] == machine


@pytest.mark.parametrize("name", NAMES)
def test_shipped_template_requires_the_allowed_source_address(name):
    template, _ = load(name)
    decl = template["parameters"]["allowedSourceAddress"]
    assert "defaultValue" not in decl


@pytest.mark.parametrize("name", NAMES)
def test_shipped_template_keeps_the_os_disk_by_default_and_uses_gen2_standard_security(name):
    template, parameters = load(name)
    vm = vm_of(expand(template, parameters))
    assert vm.properties["storageProfile"]["osDisk"]["deleteOption"] == "Detach"
    assert vm.properties["securityProfile"]["securityType"] == "Standard"
    assert "metadata" not in vm.body  # ARM ignores resource metadata (checkov skips live there)
    assert vm.properties["hardwareProfile"]["vmSize"] == "Standard_D4ds_v5"
    assert vm.body["tags"]["dsvmctl-gpu-size"] == "Standard_NC4as_T4_v3"


@pytest.mark.parametrize("name", NAMES)
def test_shipped_template_schedules_auto_shutdown_for_its_vm(name):
    template, parameters = load(name)
    expansion = expand(template, parameters)
    schedule = expansion.find("Microsoft.DevTestLab/schedules")[0]
    vm = vm_of(expansion)
    assert schedule.name == f"shutdown-computevm-{vm.name}"
    assert schedule.properties["targetResourceId"] == vm.id
    assert vm.id in schedule.depends_on


@pytest.mark.parametrize("name", NAMES)
def test_shipped_template_outputs_vm_and_os_disk_ids(name):
    template, parameters = load(name)
    outputs = expand(template, parameters).outputs
    assert outputs["vmId"]["value"].endswith("/providers/Microsoft.Compute/virtualMachines/" + vm_of(expand(template, parameters)).name)
    assert "/providers/Microsoft.Compute/disks/" in outputs["osDiskId"]["value"]
    assert outputs["sshCommand"]["value"].startswith("ssh azureuser@")


@pytest.mark.parametrize("name", NAMES)
def test_expanding_a_shipped_template_takes_under_50_ms(name):
    template, parameters = load(name)
    expand(template, parameters)  # warm the parser cache, as a long-running process would
    start = time.perf_counter()
    expand(template, parameters)
    assert time.perf_counter() - start < 0.05


def test_ubuntu_custom_data_carries_the_pinned_host_key():
    template, parameters = load("dsvm-ubuntu")
    parameters.update(sshHostKey={"value": "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----\n"},
                      sshHostPublicKey={"value": "ssh-ed25519 AAAAhost"})
    data = base64.b64decode(vm_of(expand(template, parameters)).properties["osProfile"]["customData"]).decode()
    header, body = data.split("\n", 1)
    assert header == "#cloud-config"
    config = json.loads(body)  # JSON is YAML: cloud-init reads it as a cloud-config mapping
    assert config["ssh_keys"]["ed25519_public"] == "ssh-ed25519 AAAAhost"
    assert config["ssh_keys"]["ed25519_private"].startswith("-----BEGIN OPENSSH PRIVATE KEY-----\nabc")
    assert config["ssh_pwauth"] is False


def test_ubuntu_allows_ssh_keys_only():
    template, parameters = load("dsvm-ubuntu")
    linux = vm_of(expand(template, parameters)).properties["osProfile"]["linuxConfiguration"]
    assert linux["disablePasswordAuthentication"] is True
    assert linux["ssh"]["publicKeys"][0]["keyData"] == parameters["adminPublicKey"]["value"]


def test_windows_computer_name_is_cut_to_15_characters():
    template, parameters = load("dsvm-windows")
    parameters["vmName"] = {"value": "dsvm-win-abcdefghijk"[:15]}
    vm = vm_of(expand(template, parameters))
    assert len(vm.properties["osProfile"]["computerName"]) <= 15


def test_windows_run_command_installs_openssh_with_key_auth():
    template, parameters = load("dsvm-windows")
    run = expand(template, parameters).find("Microsoft.Compute/virtualMachines/runCommands")[0]
    script = run.properties["source"]["script"]
    for needle in ("Add-WindowsCapability -Online -Name 'OpenSSH.Server~~~~0.0.1.0'", "Start-Service sshd",
                   "Set-Service -Name sshd -StartupType Automatic", "New-NetFirewallRule",
                   "administrators_authorized_keys", "icacls.exe", "PasswordAuthentication no"):
        assert needle in script
    assert run.properties["parameters"][0] == {"name": "AdminPublicKey", "value": parameters["adminPublicKey"]["value"]}


def test_windows_admin_password_has_no_default():
    template, _ = load("dsvm-windows")
    assert "defaultValue" not in template["parameters"]["adminPassword"]


# --- unsafe copies --------------------------------------------------------------------------


def _nsg_rule(template):
    nsg = next(r for r in template["resources"] if r["type"] == "Microsoft.Network/networkSecurityGroups")
    return nsg["properties"]["securityRules"][0]["properties"]


def _resource(template, rtype):
    return next(r for r in template["resources"] if r["type"] == rtype)


def open_to_internet(template, parameters):
    _nsg_rule(template)["sourceAddressPrefix"] = "internet"


def password_login(template, parameters):
    vm = _resource(template, "Microsoft.Compute/virtualMachines")
    vm["properties"]["osProfile"]["linuxConfiguration"]["disablePasswordAuthentication"] = False


def basic_public_ip(template, parameters):
    _resource(template, "Microsoft.Network/publicIPAddresses")["sku"] = {"name": "Basic"}


def size_without_temp_disk(template, parameters):
    parameters["vmSize"] = {"value": "Standard_D4s_v5"}
    parameters["gpuVmSize"] = {"value": "Standard_NC4as_T4_v3"}


def gen1_image_with_a100(template, parameters):
    windows = "dsvm-win-2022" in json.dumps(template)
    parameters["imageOffer"] = {"value": "dsvm-win-2019" if windows else "ubuntu-2004"}
    parameters["imageSku"] = {"value": "winserver-2019" if windows else "2004"}
    parameters["gpuVmSize"] = {"value": "Standard_NC24ads_A100_v4"}


UNSAFE = [
    ("dsvm-ubuntu", open_to_internet, "DSVM001"),
    ("dsvm-windows", open_to_internet, "DSVM001"),
    ("dsvm-ubuntu", password_login, "DSVM002"),
    ("dsvm-ubuntu", basic_public_ip, "DSVM006"),
    ("dsvm-windows", basic_public_ip, "DSVM006"),
    ("dsvm-ubuntu", size_without_temp_disk, "DSVM010"),
    ("dsvm-windows", size_without_temp_disk, "DSVM010"),
    ("dsvm-ubuntu", gen1_image_with_a100, "DSVM008"),
    ("dsvm-windows", gen1_image_with_a100, "DSVM008"),
]


@pytest.mark.parametrize("name, mutate, rule", UNSAFE, ids=[f"{n}-{m.__name__}" for n, m, _ in UNSAFE])
def test_unsafe_copy_of_shipped_template_is_caught(name, mutate, rule):
    template, parameters = load(name)
    template = copy.deepcopy(template)
    mutate(template, parameters)
    assert rule in rules_of(template, parameters)
