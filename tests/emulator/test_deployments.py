"""The Deployments API: the shipped templates deploy through the SDK, in every door."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from azure.core.exceptions import HttpResponseError

from .builders import SSH_KEY

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


def _deployments(door):
    from azure.mgmt.resource.deployments import DeploymentsMgmtClient

    return DeploymentsMgmtClient(door.credential, door.subscription_id, **door.client_kwargs)


def _body(name: str, mode: str = "Incremental", **values) -> dict:
    template = json.loads((TEMPLATES / f"dsvm-{name}.json").read_text())
    parameters = {"adminPublicKey": {"value": SSH_KEY}, "allowedSourceAddress": {"value": "198.51.100.7/32"}}
    if name == "windows":
        parameters["adminPassword"] = {"value": "N0t-a-real-Passw0rd!"}
    parameters.update({k: {"value": v} for k, v in values.items()})
    return {"properties": {"template": template, "parameters": parameters, "mode": mode}}


@pytest.fixture
def group(door):  # this file's own group, "team" (conftest's is "rg")
    door.resource_client().resource_groups.create_or_update("team", {"location": "eastus"})
    return door


@pytest.mark.parametrize("template", ["ubuntu", "windows"])
def test_shipped_template_deploys_the_vm_and_its_network(group, template):
    result = _deployments(group).deployments.begin_create_or_update("team", "up", _body(template)).result()
    assert result.properties.provisioning_state == "Succeeded"
    vm_name = {"ubuntu": "dsvm", "windows": "dsvm-win"}[template]
    vm = group.compute_client().virtual_machines.get("team", vm_name, expand="instanceView")
    assert vm.hardware_profile.vm_size == "Standard_D4ds_v5"
    assert vm.tags["dsvmctl-managed"] == "true"
    assert any(s.code == "PowerState/running" for s in vm.instance_view.statuses)
    types = {body["type"] for body in group.emulator.resources.values()}
    assert {"Microsoft.Network/networkSecurityGroups", "Microsoft.Network/publicIPAddresses",
            "Microsoft.Network/networkInterfaces", "Microsoft.Compute/disks", "Microsoft.DevTestLab/schedules"} <= types
    outputs = result.properties.outputs
    assert outputs and any("disk" in key.lower() for key in outputs)
    operations = list(_deployments(group).deployment_operations.list("team", "up"))
    assert operations and all(o.properties.provisioning_state == "Succeeded" for o in operations)


def test_what_if_on_a_changed_parameter_reports_exactly_the_resources_that_change(group):
    client = _deployments(group).deployments
    client.begin_create_or_update("team", "up", _body("ubuntu")).result()
    unchanged = client.begin_what_if("team", "up", _body("ubuntu")).result()
    assert {c.change_type for c in unchanged.changes} == {"NoChange"}
    changed = client.begin_what_if("team", "up", _body("ubuntu", vmSize="Standard_D8ds_v5")).result()
    modified = [c for c in changed.changes if c.change_type != "NoChange"]
    assert [(c.change_type, c.resource_id.rsplit("/", 2)[-2:]) for c in modified] == [
        ("Modify", ["virtualMachines", "dsvm"])]
    assert any(d.path == "properties.hardwareProfile.vmSize" and d.after == "Standard_D8ds_v5"
               for d in modified[0].delta)
    before, after = modified[0].before, modified[0].after
    assert before["apiVersion"] and before["properties"]["hardwareProfile"]["vmSize"] == "Standard_D4ds_v5"
    assert after["properties"]["hardwareProfile"]["vmSize"] == "Standard_D8ds_v5"
    assert after["properties"]["vmId"] == before["properties"]["vmId"]  # what ARM keeps shows in 'after' too


def test_what_if_in_complete_mode_lists_deletions(group):
    client = _deployments(group).deployments
    client.begin_create_or_update("team", "up", _body("ubuntu")).result()
    group.request("PUT", group.rg_path("team", "/providers/Microsoft.Network/publicIPAddresses/stray"),
                  {"location": "eastus", "sku": {"name": "Standard"}})
    result = client.begin_what_if("team", "up", _body("ubuntu", mode="Complete")).result()
    deleted = [c.resource_id.rsplit("/", 1)[-1] for c in result.changes if c.change_type == "Delete"]
    assert deleted == ["stray"]


def test_validate_accepts_a_good_template_and_rejects_a_broken_one(group):
    client = _deployments(group).deployments
    ok = client.begin_validate("team", "check", _body("ubuntu")).result()
    assert ok.properties.provisioning_state == "Succeeded"
    broken = _body("ubuntu")
    broken["properties"]["template"]["variables"] = {"bad": "[concat('a', nosuchfunction())]"}
    broken["properties"]["template"]["outputs"] = {"x": {"type": "string", "value": "[variables('bad')]"}}
    with pytest.raises(HttpResponseError) as err:
        client.begin_validate("team", "check", broken).result()
    assert err.value.status_code == 400
    assert err.value.error.code == "InvalidTemplate"  # as ARM answers a template that does not evaluate
    assert "nosuchfunction" in err.value.error.message


def test_a_failing_resource_fails_the_deployment_with_its_details(group):
    client = _deployments(group).deployments
    with pytest.raises(HttpResponseError) as err:
        client.begin_create_or_update("team", "h100", _body("ubuntu", vmSize="Standard_NC40ads_H100_v5",
                                                            gpuVmSize="Standard_NC40ads_H100_v5")).result()
    assert err.value.error.code == "DeploymentFailed"
    record = client.get("team", "h100")
    assert record.properties.provisioning_state == "Failed"
    assert record.properties.error.details[0].code == "SkuNotAvailable"
    failed = [o for o in _deployments(group).deployment_operations.list("team", "h100")
              if o.properties.provisioning_state == "Failed"]
    assert failed[0].properties.target_resource.resource_type == "Microsoft.Compute/virtualMachines"


def test_a_missing_required_parameter_is_an_invalid_template(group):
    body = _body("ubuntu")
    del body["properties"]["parameters"]["adminPublicKey"]
    response = group.request("PUT", group.rg_path("team", "/providers/Microsoft.Resources/deployments/up"), body)
    assert response.status_code == 400 and response.json()["error"]["code"] == "InvalidTemplate"
    assert "adminPublicKey" in response.json()["error"]["message"]


def test_template_link_that_cannot_be_fetched_offline_is_reported(group):
    body = {"properties": {"templateLink": {"uri": "https://example.com/t.json"}, "mode": "Incremental"}}
    response = group.request("PUT", group.rg_path("team", "/providers/Microsoft.Resources/deployments/up"), body)
    assert response.status_code == 400 and response.json()["error"]["code"] == "InvalidContentLink"


def test_a_template_sent_as_written_may_break_a_string_over_lines(door):
    # az splices the template file in unquoted; ARM's reader takes a line break inside a string.
    door.resource_client().resource_groups.create_or_update("rg", {"location": "eastus"})
    template = ('{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#", '
                '"contentVersion": "1.0.0.0", "resources": [], '
                '"outputs": {"text": {"type": "string", "value": "first line\nsecond line"}}}')
    raw = ('{"properties": {"mode": "Incremental", template:' + template + '}}').encode()
    path = door.rg_path("rg", "/providers/Microsoft.Resources/deployments/multiline")
    response = door.request("PUT", path, raw=raw, api_version="2022-09-01")
    assert response.status_code == 201, response.text
    quoted = door.request("PUT", path + "-quoted", api_version="2022-09-01",
                          raw=('{"properties": {"mode": "Incremental", "template": ' + template + '}}').encode())
    assert quoted.status_code == 201, quoted.text
