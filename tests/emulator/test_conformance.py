"""Azure's own REST API examples (../shared/azure-specs), sent through the emulator in each door.

For every example: the same status class, and every response field the example shows is
present (values differ: names, ids and times are the emulator's). Where the emulator knowingly
answers differently, KNOWN_GAPS says so and why; the test fails if a gap closes or a new one opens.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from .builders import nic, vnet

SPECS = ("azure-specs", "specification")

# Fields the examples show that the emulator does not produce, with the reason.
KNOWN_GAPS = {
    "VirtualMachine_Get_InstanceView.json": {
        "bootDiagnostics": "boot diagnostics are not emulated",
        "patchStatus": "guest patching is not emulated",
    },
    "PublicIpAddressCreateDefaults.json": {
        "properties.ipConfiguration": "the example shows a NIC on a new address; the emulator links one only "
                                      "when a NIC uses the address",
    },
    "PutDeploymentResourceGroup.json": {
        "properties.templateLink.id": "the example deploys a template spec; template specs are not emulated",
    },
    "PostDeploymentValidateOnResourceGroup.json": {
        "properties.templateLink.id": "the example validates a template spec; template specs are not emulated",
    },
}


def _examples() -> list[Path]:
    base = Path(__file__).resolve().parents[2].parent / "shared" / "azure-specs" / "specification"
    return sorted(base.rglob("examples/**/*.json")) if base.exists() else []


def _missing(expected: Any, actual: Any, path: str = "") -> list[str]:
    """Paths of fields `expected` has and `actual` lacks (values are not compared)."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [path or "<root>"]
        out = []
        for key, value in expected.items():
            sub = f"{path}.{key}" if path else key
            if key not in actual:
                out.append(sub)
            elif key != "tags":  # tag names are the example's data, not fields of the API
                out.extend(_missing(value, actual[key], sub))
        return out
    if isinstance(expected, list) and expected and isinstance(actual, list) and actual:
        return _missing(expected[0], actual[0], path)
    return []


def _prepare_group(door, group: str, location: str) -> None:
    door.request("PUT", door.rg_path(group), {"location": location})


def _prepare_nic(door, group: str, location: str, name: str = "nic-for-example") -> str:
    _prepare_group(door, group, location)
    network = door.network_client()
    subnet = network.virtual_networks.begin_create_or_update(group, "vnet", {**vnet(), "location": location}) \
        .result().subnets[0].id
    return network.network_interfaces.begin_create_or_update(group, name, {**nic(subnet), "location": location}) \
        .result().id


def _prepare_vm(door, group: str, name: str) -> None:
    from .builders import linux_vm

    nic_id = _prepare_nic(door, group, "eastus", f"{name}-nic")
    door.compute_client().virtual_machines.begin_create_or_update(group, name, linux_vm(nic_id, name=name)).result()


def _substitute(value: Any, replacements: dict[str, str]) -> Any:
    text = json.dumps(value)
    for placeholder, real in replacements.items():
        text = text.replace(placeholder, real)
    return json.loads(text)


def _case(door, name: str, example: dict) -> tuple[str, str, Any, dict[str, str]]:
    """(method, path, body, query) for an example, after creating what it assumes exists."""
    params = example["parameters"]
    sub = door.subscription_id
    group = params.get("resourceGroupName", "rg")
    rg = f"/subscriptions/{sub}/resourceGroups/{group}"
    if name == "VirtualMachine_ListAvailableVmSizes.json":
        _prepare_vm(door, group, params["vmName"])
        return "GET", f"{rg}/providers/Microsoft.Compute/virtualMachines/{params['vmName']}/vmSizes", None, {}
    if name == "VirtualMachine_Get_InstanceView.json":
        _prepare_vm(door, group, params["vmName"])
        return "GET", f"{rg}/providers/Microsoft.Compute/virtualMachines/{params['vmName']}/instanceView", None, {}
    if name in ("VirtualMachine_Deallocate_MaximumSet_Gen.json", "VirtualMachineRunCommand.json"):
        _prepare_vm(door, group, params["vmName"])
        action = "deallocate" if "Deallocate" in name else "runCommand"
        query = {"hibernate": "true"} if action == "deallocate" else {}
        return "POST", f"{rg}/providers/Microsoft.Compute/virtualMachines/{params['vmName']}/{action}", \
            params.get("parameters"), query
    if name.startswith("VirtualMachine_Create"):
        body = params["parameters"]
        nic_id = _prepare_nic(door, group, body["location"])
        body = _substitute(body, {
            "{subscription-id}": sub, "{existing-nic-name}": nic_id.rsplit("/", 1)[-1],
            "{your-username}": "azureuser", "{your-password}": "N0t-a-real-Passw0rd!",
            "{image_publisher}": "microsoft-dsvm", "{image_offer}": "ubuntu-2204", "{image_sku}": "2204-gen2"})
        if "networkProfile" in body["properties"]:
            body["properties"]["networkProfile"]["networkInterfaces"][0]["id"] = nic_id
        return "PUT", f"{rg}/providers/Microsoft.Compute/virtualMachines/{params['vmName']}", body, {}
    if name == "ListAvailableResourceSkusForARegion.json":
        return "GET", f"/subscriptions/{sub}/providers/Microsoft.Compute/skus", None, {"$filter": params["$filter"]}
    if name == "PublicIpAddressCreateDefaults.json":
        _prepare_group(door, group, "eastus")
        return "PUT", f"{rg}/providers/Microsoft.Network/publicIPAddresses/{params['publicIpAddressName']}", \
            params["parameters"], {}
    if name == "NetworkSecurityGroupCreateWithRule.json":
        _prepare_group(door, group, "eastus")
        return "PUT", f"{rg}/providers/Microsoft.Network/networkSecurityGroups/{params['networkSecurityGroupName']}", \
            params["parameters"], {}
    if name == "GlobalSchedules_CreateOrUpdate.json":
        _prepare_group(door, group, "eastus")
        return "PUT", f"{rg}/providers/Microsoft.DevTestLab/schedules/{params['name']}", \
            {"location": "eastus", **params["schedule"]}, {}
    if name in ("PutDeploymentResourceGroup.json", "PostDeploymentValidateOnResourceGroup.json",
                "PostDeploymentWhatIfOnResourceGroup.json"):
        _prepare_group(door, group, "eastus")
        link = params["parameters"]["properties"]["templateLink"]["uri"]
        # The example's linked template cannot be fetched offline: register a small one under its URI.
        door.emulator.linked_templates[link] = {
            "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
            "contentVersion": "1.0.0.0", "resources": [{
                "type": "Microsoft.Network/publicIPAddresses", "apiVersion": "2024-05-01", "name": "example-ip",
                "location": "[resourceGroup().location]", "sku": {"name": "Standard"},
                "properties": {"publicIPAllocationMethod": "Static"}}]}
        suffix = {"Put": "", "PostDeploymentValidate": "/validate", "PostDeploymentWhatIf": "/whatIf"}
        tail = next(v for k, v in suffix.items() if name.startswith(k) and (k != "Put" or name.startswith("PutD")))
        method = "PUT" if name.startswith("Put") else "POST"
        return method, f"{rg}/providers/Microsoft.Resources/deployments/{params['deploymentName']}{tail}", \
            params["parameters"], {}
    raise AssertionError(f"no conformance case for {name}: add one")


@pytest.mark.shared
@pytest.mark.parametrize("example_path", _examples() or [None], ids=lambda p: p.name if p else "absent")
def test_example_through_the_emulator(door, example_path, shared):
    if example_path is None:
        shared(*SPECS)
    example = json.loads(example_path.read_text())
    method, path, body, query = _case(door, example_path.name, example)
    api_version = example["parameters"]["api-version"]
    extra = "".join(f"&{k}={v}" for k, v in query.items())
    response = door.request(method, f"{path}?api-version={api_version}{extra}", body, api_version=None)
    expected_statuses = {int(code) for code in example["responses"]}
    assert response.status_code // 100 in {code // 100 for code in expected_statuses}, response.text
    twin = str(response.status_code) if str(response.status_code) in example["responses"] else \
        str(min(c for c in expected_statuses if c // 100 == response.status_code // 100))
    expected = example["responses"][twin]
    for header in expected.get("headers", {}):
        assert header.lower() in {h.lower() for h in response.headers}, header
    gaps = KNOWN_GAPS.get(example_path.name, {})
    if isinstance(expected.get("body"), dict):
        missing = _missing(expected["body"], response.json())
        assert sorted(missing) == sorted(gaps), f"missing fields: {missing}"
    else:
        assert not gaps
