"""A deployment's life as ARM runs it: Accepted, Running while it creates its resources one at a
time (each request the emulator handles is one step; a look at the deployment is the client's
wait and finds it done), then Succeeded; cancel while it runs; deployments at subscription scope. Through the unmodified deployments SDK where it has the call."""

from __future__ import annotations

import json

import pytest
from azure.core.exceptions import HttpResponseError

SCHEMA = "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"
API = "2022-09-01"


def _deployments(door):
    from azure.mgmt.resource.deployments import DeploymentsMgmtClient

    return DeploymentsMgmtClient(door.credential, door.subscription_id, **door.client_kwargs)


def _nsgs(*names: str) -> dict:
    return {"$schema": SCHEMA, "contentVersion": "1.0.0.0", "resources": [
        {"type": "Microsoft.Network/networkSecurityGroups", "apiVersion": "2023-09-01", "name": name,
         "location": "[resourceGroup().location]", "properties": {}} for name in names]}


def _status(door, url: str) -> str:
    return door.request("GET", url.split(door.base_url, 1)[1], api_version=None).json()["status"]


def _nsg_names(door) -> list[str]:
    return sorted(n.name for n in door.network_client().network_security_groups.list("rg"))


def test_a_deployment_makes_a_resource_per_request_and_a_status_poll_finds_it_done(group):
    path = group.rg_path("rg", "/providers/Microsoft.Resources/deployments/two")
    started = group.request("PUT", path, {"properties": {"mode": "Incremental", "template": _nsgs("a", "b")}},
                            api_version=API)
    assert (started.status_code, started.json()["properties"]["provisioningState"]) == (201, "Accepted")
    status_url = started.headers["Azure-AsyncOperation"]
    assert "/deployments/two/operationStatuses/" in status_url
    # Requests that do not look at the deployment move it on one step each: Running, then a, then b.
    assert [_nsg_names(group) for _ in range(3)] == [[], ["a"], ["a", "b"]]
    assert _status(group, status_url) == "Succeeded"  # the client's wait: it finishes
    record = group.request("GET", path, api_version=API).json()["properties"]
    assert [r["id"].rsplit("/", 1)[-1] for r in record["outputResources"]] == ["a", "b"]


def test_a_look_at_the_deployment_itself_waits_for_its_end(group):
    path = group.rg_path("rg", "/providers/Microsoft.Resources/deployments/looked")
    group.request("PUT", path, {"properties": {"mode": "Incremental", "template": _nsgs("c", "d")}}, api_version=API)
    assert group.request("GET", path, api_version=API).json()["properties"]["provisioningState"] == "Succeeded"
    assert _nsg_names(group) == ["c", "d"]


def test_cancel_stops_a_running_deployment_and_a_finished_one_answers_409(group):
    path = group.rg_path("rg", "/providers/Microsoft.Resources/deployments/slow")
    body = {"properties": {"mode": "Incremental", "template": _nsgs("first", "second", "third")}}
    started = group.request("PUT", path, body, api_version=API)
    assert _nsg_names(group) == []  # a request of its own: the deployment is Running now
    assert group.request("POST", f"{path}/cancel", api_version=API).status_code == 204
    record = group.request("GET", path, api_version=API).json()
    assert record["properties"]["provisioningState"] == "Canceled"
    assert [r["id"].rsplit("/", 1)[-1] for r in record["properties"]["outputResources"]] == ["first"]
    assert _status(group, started.headers["Azure-AsyncOperation"]) == "Canceled"
    nsgs = {n.name for n in group.network_client().network_security_groups.list("rg")}
    assert "third" not in nsgs  # what it had not made yet stays unmade
    again = group.request("POST", f"{path}/cancel", api_version=API)
    assert (again.status_code, again.json()["error"]["code"]) == (409, "DeploymentCannotBeCancelled")


def test_the_sdk_follows_a_deployment_to_its_end(group):
    result = _deployments(group).deployments.begin_create_or_update(
        "rg", "sdk", {"properties": {"mode": "Incremental", "template": _nsgs("x", "y", "z")}}).result()
    assert result.properties.provisioning_state == "Succeeded"
    assert {n.name for n in group.network_client().network_security_groups.list("rg")} == {"x", "y", "z"}


def _subscription_template() -> dict:
    """A resource group and, inside it through a nested deployment, an NSG."""
    return {"$schema": SCHEMA, "contentVersion": "1.0.0.0",  # ARM takes the scope from the URL, not $schema
            "parameters": {"groupName": {"type": "string"}},
            "resources": [
                {"type": "Microsoft.Resources/resourceGroups", "apiVersion": "2022-09-01",
                 "name": "[parameters('groupName')]", "location": "westus", "properties": {}},
                {"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "inner",
                 "resourceGroup": "[parameters('groupName')]", "dependsOn": ["[parameters('groupName')]"],
                 "properties": {"mode": "Incremental", "template": _nsgs("nested-nsg")}},
            ],
            "outputs": {"where": {"type": "string", "value": "[deployment().location]"}}}


def test_a_subscription_scope_deployment_makes_a_group_and_deploys_into_it(door):
    client = _deployments(door).deployments
    body = {"location": "westus", "properties": {"mode": "Incremental", "template": _subscription_template(),
                                                 "parameters": {"groupName": {"value": "made-by-sub"}}}}
    assert client.begin_validate_at_subscription_scope("subdep", body).result().error is None
    result = client.begin_create_or_update_at_subscription_scope("subdep", body).result()
    assert result.properties.provisioning_state == "Succeeded"
    assert result.id == f"/subscriptions/{door.subscription_id}/providers/Microsoft.Resources/deployments/subdep"
    assert result.location == "westus" and result.properties.outputs["where"]["value"] == "westus"
    assert door.resource_client().resource_groups.get("made-by-sub").location == "westus"
    assert [n.name for n in door.network_client().network_security_groups.list("made-by-sub")] == ["nested-nsg"]
    inner = _deployments(door).deployments.get("made-by-sub", "inner")  # ARM keeps a record of each nested one
    assert inner.properties.provisioning_state == "Succeeded"
    assert [r.id.rsplit("/", 1)[-1] for r in inner.properties.output_resources] == ["nested-nsg"]
    assert [r.id.rsplit("/", 1)[-1] for r in result.properties.output_resources] == ["made-by-sub", "nested-nsg"]
    assert [d.name for d in client.list_at_subscription_scope()] == ["subdep"]
    assert [d.name for d in client.list_by_resource_group("made-by-sub")] == ["inner"]  # not subdep
    changes = client.begin_what_if_at_subscription_scope("subdep", body).result().changes
    assert {c.change_type for c in changes} == {"NoChange"}


def test_a_subscription_scope_deployment_needs_a_location(door):
    path = f"/subscriptions/{door.subscription_id}/providers/Microsoft.Resources/deployments/nowhere"
    response = door.request("PUT", path, {"properties": {"mode": "Incremental", "template": _nsgs()}},
                            api_version=API)
    assert (response.status_code, response.json()["error"]["code"]) == (400, "LocationRequired")
    with pytest.raises(HttpResponseError) as err:
        _deployments(door).deployments.get_at_subscription_scope("nowhere")
    assert err.value.status_code == 404


def test_a_failed_deployment_lists_what_it_made_and_its_operations_carry_request_ids(group):
    template = _nsgs("made")
    template["resources"].append({"type": "Microsoft.Network/publicIPAddresses", "apiVersion": "2023-09-01",
                                  "name": "basic-ip", "location": "eastus", "sku": {"name": "Basic"},
                                  "properties": {"publicIPAllocationMethod": "Dynamic"}})
    with pytest.raises(HttpResponseError):
        _deployments(group).deployments.begin_create_or_update(
            "rg", "half", {"properties": {"mode": "Incremental", "template": template}}).result()
    record = _deployments(group).deployments.get("rg", "half")
    assert record.properties.provisioning_state == "Failed"
    assert [r.id.rsplit("/", 1)[-1] for r in record.properties.output_resources] == ["made"]
    operations = group.request("GET", group.rg_path("rg", "/deployments/half/operations"), api_version=API).json()
    assert all(o["properties"]["serviceRequestId"] for o in operations["value"])


def test_on_error_deployment_names_the_last_successful_one(group):
    client = _deployments(group).deployments
    client.begin_create_or_update("rg", "good", {"properties": {"mode": "Incremental", "template": _nsgs("g")}}).result()
    body = {"properties": {"mode": "Incremental", "template": _nsgs("h"), "onErrorDeployment": {"type": "LastSuccessful"}}}
    result = client.begin_create_or_update("rg", "next", body).result()
    assert (result.properties.on_error_deployment.type, result.properties.on_error_deployment.deployment_name) == (
        "LastSuccessful", "good")


def test_preflight_refuses_a_nested_deployment_into_a_group_that_does_not_exist(group):
    template = {"$schema": SCHEMA, "contentVersion": "1.0.0.0", "resources": [
        {"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "elsewhere",
         "resourceGroup": "no-such-group", "properties": {"mode": "Incremental", "template": _nsgs("n")}}]}
    body = {"properties": {"mode": "Incremental", "template": template}}
    for path in ("/validate", ""):
        method = "POST" if path else "PUT"
        response = group.request(method, group.rg_path("rg", f"/providers/Microsoft.Resources/deployments/x{path}"),
                                 body, api_version=API)
        assert (response.status_code, response.json()["error"]["code"]) == (404, "ResourceGroupNotFound")
        assert "'no-such-group'" in response.json()["error"]["message"]


def test_deployments_list_filters_on_provisioning_state(group):
    client = _deployments(group).deployments
    client.begin_create_or_update("rg", "done", {"properties": {"mode": "Incremental", "template": _nsgs("p")}}).result()
    group.request("PUT", group.rg_path("rg", "/providers/Microsoft.Resources/deployments/later"),
                  {"properties": {"mode": "Incremental", "template": _nsgs("q", "r")}}, api_version=API)
    assert [d.name for d in client.list_by_resource_group("rg", filter="provisioningState eq 'Succeeded'")] == ["done"]
    running = client.list_by_resource_group("rg", filter="provisioningState eq 'Running'")
    assert [d.name for d in running] == ["later"]


def test_a_running_deployment_carries_on_in_the_next_process(tmp_path):
    from dsvmctl.emulator.core import Emulator
    from dsvmctl.emulator.wire import Request

    arm = "https://management.azure.com"
    first = Emulator(state_dir=tmp_path)
    group = f"/subscriptions/{first.subscription_id}/resourceGroups/rg"
    first.handle(Request("PUT", f"{arm}{group}?api-version={API}", {}, b'{"location": "eastus"}'))
    body = json.dumps({"properties": {"mode": "Incremental", "template": _nsgs("one", "two")}}).encode()
    deployment = f"{arm}{group}/providers/Microsoft.Resources/deployments/carried?api-version={API}"
    first.handle(Request("PUT", deployment, {"content-type": "application/json"}, body))
    first.handle(Request("GET", f"{arm}{group}/providers/Microsoft.Network/networkSecurityGroups?api-version={API}"))
    second = Emulator(state_dir=tmp_path)  # another process, reading the same state
    record = second.handle(Request("GET", deployment)).body
    assert record["properties"]["provisioningState"] == "Succeeded"
    assert sorted(r["id"].rsplit("/", 1)[-1] for r in record["properties"]["outputResources"]) == ["one", "two"]


def test_deleting_a_deployment_is_a_202_that_keeps_its_resources_and_a_running_one_is_refused(group):
    client = _deployments(group).deployments
    client.begin_create_or_update("rg", "gone", {"properties": {"mode": "Incremental", "template": _nsgs("kept")}}).result()
    client.begin_delete("rg", "gone").result()
    assert not client.check_existence("rg", "gone")
    assert _nsg_names(group) == ["kept"]
    path = group.rg_path("rg", "/providers/Microsoft.Resources/deployments/busy")
    group.request("PUT", path, {"properties": {"mode": "Incremental", "template": _nsgs("b1", "b2")}}, api_version=API)
    refused = group.request("DELETE", path, api_version=API)
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "DeploymentActive")


def test_calculate_template_hash_is_the_hash_a_deployment_reports(group):
    client = _deployments(group).deployments
    template = _nsgs("hashed")
    deployed = client.begin_create_or_update("rg", "h", {"properties": {"mode": "Incremental", "template": template}})
    calculated = client.calculate_template_hash(template)
    assert calculated.template_hash == deployed.result().properties.template_hash
    assert json.loads(calculated.minified_template) == template
