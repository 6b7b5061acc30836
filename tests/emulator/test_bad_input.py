"""Bad input gets ARM-shaped errors with the right status and code; never a 500 or a traceback."""

from __future__ import annotations

import json

import pytest
import requests

VM = "/providers/Microsoft.Compute/virtualMachines/vm1"


def _error(response):
    body = response.json()
    assert set(body) == {"error"}
    assert {"code", "message"} <= set(body["error"])
    return body["error"]


def test_malformed_json_is_invalid_request_content(group):
    response = group.request("PUT", group.rg_path("rg", VM), raw=b"{not json")
    assert response.status_code == 400 and _error(response)["code"] == "InvalidRequestContent"


def test_missing_required_property_names_it(group):
    response = group.request("PUT", group.rg_path("rg", VM), {"location": "eastus", "properties": {}})
    error = _error(response)
    assert response.status_code == 400 and error["code"] == "InvalidParameter"
    assert error["target"] == "hardwareProfile.vmSize"


def test_missing_location_is_location_required(group):
    response = group.request("PUT", group.rg_path("rg", "/providers/Microsoft.Network/virtualNetworks/v"), {})
    assert response.status_code == 400 and _error(response)["code"] == "LocationRequired"


def test_missing_api_version(group):
    response = group.request("GET", group.rg_path("rg", VM), api_version=None)
    assert response.status_code == 400 and _error(response)["code"] == "MissingApiVersionParameter"


@pytest.mark.parametrize("version,code", [("banana", "InvalidApiVersionParameter"),
                                          ("2099-01-01", "NoRegisteredProviderFound"),
                                          ("2014-01-01", "NoRegisteredProviderFound")])
def test_unknown_api_version(group, version, code):
    response = group.request("GET", group.rg_path("rg", VM), api_version=version)
    assert response.status_code == 400 and _error(response)["code"] == code


@pytest.mark.parametrize("version", ["2024-07-01", "2025-04-01", "2026-04-01", "2021-07-01", "2015-05-01-preview"])
def test_range_of_compute_api_versions_is_accepted(group, version):
    assert group.request("GET", group.rg_path("rg", "/providers/Microsoft.Compute/virtualMachines"),
                         api_version=version).status_code == 200


def test_invalid_resource_group_name(door):
    response = door.request("PUT", door.rg_path("bad/name?"), {"location": "eastus"})
    assert response.status_code in (400, 404)
    response = door.request("PUT", door.rg_path("ends-with-dot."), {"location": "eastus"})
    assert response.status_code == 400 and _error(response)["code"] == "InvalidResourceGroupName"


def test_invalid_network_resource_name(group):
    response = group.request("PUT", group.rg_path("rg", "/providers/Microsoft.Network/virtualNetworks/-bad-"),
                             {"location": "eastus"})
    assert response.status_code == 400 and _error(response)["code"] == "InvalidResourceName"


def test_unknown_resource_type_and_namespace(group):
    response = group.request("GET", group.rg_path("rg", "/providers/Microsoft.Compute/spaceships/x"))
    assert response.status_code == 400 and _error(response)["code"] == "InvalidResourceType"
    response = group.request("GET", group.rg_path("rg", "/providers/Microsoft.Spaceships/ships/x"))
    assert response.status_code == 400 and _error(response)["code"] == "InvalidResourceNamespace"


def test_wrong_method_is_405(group):
    response = group.request("POST", group.rg_path("rg", VM))
    assert response.status_code == 405 and _error(response)["code"] == "MethodNotAllowed"


def test_missing_resource_group_is_404(door):
    response = door.request("GET", door.rg_path("nope", VM))
    assert response.status_code == 404 and _error(response)["code"] == "ResourceGroupNotFound"


def test_routing_is_case_insensitive(group):
    path = group.rg_path("rg", "/providers/Microsoft.Network/publicIPAddresses/ip1")
    created = group.request("PUT", path, {"location": "eastus", "sku": {"name": "Standard"}})
    assert created.status_code == 201
    shouted = path.upper().replace(group.subscription_id.upper(), group.subscription_id)
    assert group.request("GET", shouted.replace("/IP1", "/ip1")).json()["name"] == "ip1"
    assert group.request("GET", path.lower()).status_code == 200


def test_responses_carry_request_and_correlation_ids(group):
    response = group.request("GET", group.rg_path("rg"))
    assert response.headers["x-ms-request-id"] and response.headers["x-ms-correlation-request-id"]


def test_body_that_is_not_an_object(group):
    response = group.request("PUT", group.rg_path("rg", VM), [1, 2, 3])
    assert response.status_code == 400 and _error(response)["code"] == "InvalidRequestContent"


def test_no_client_input_produces_a_500(group):
    junk = [b"", b"null", b"[]", b"\"x\"", b"{\"properties\": 5}", b"{\"location\": 5}",
            b"{\"location\": \"eastus\", \"properties\": {\"hardwareProfile\": 3}}",
            b"{\"location\": \"eastus\", \"properties\": {\"hardwareProfile\": {\"vmSize\": [1]}}}",
            b"{\"location\": \"eastus\", \"tags\": [1]}", b"\xff\xfe"]
    paths = [VM, "/providers/Microsoft.Network/virtualNetworks/v", "/providers/Microsoft.Network/networkInterfaces/n",
             "/providers/Microsoft.Network/networkSecurityGroups/n", "/providers/Microsoft.Compute/disks/d",
             "/providers/Microsoft.DevTestLab/schedules/s"]
    for path in paths:
        for body in junk:
            version = "2018-09-15" if "DevTestLab" in path else "2025-04-01"
            response = group.request("PUT", group.rg_path("rg", path), raw=body, api_version=version)
            assert response.status_code < 500, (path, body, response.text)
            assert "Traceback" not in response.text


# -- every writable type, every property of a valid body replaced by a value of the wrong type ----

from fuzz.corpus import WRITES, is_arm_error, ready_emulator, request  # noqa: E402

WRONG_VALUES = [5, "x", [], {}, True, [1], {"id": 5}, [None], None]


def _paths(value, path=()):
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, path + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, path + (index,))


def _replaced(value, path, new):
    if not path:
        return new
    out = json.loads(json.dumps(value))
    node = out
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = new
    return out


@pytest.fixture(scope="module")
def ready():
    return ready_emulator()


@pytest.mark.parametrize("method,path,version,body", WRITES, ids=[f"{w[0]} {w[1].rsplit('/providers/', 1)[-1]}"
                                                                 for w in WRITES])
def test_a_wrong_typed_property_is_a_400_not_an_emulator_exception(ready, method, path, version, body):
    # In-process the emulator raises on its own bugs, so any exception here fails the test.
    for where in list(_paths(body or {})):
        for wrong in WRONG_VALUES:
            response = ready.handle(request(method, path, version, _replaced(body or {}, where, wrong)))
            assert response.status < 500, (where, wrong, response.body)
            if response.status >= 400:
                assert is_arm_error(response), (where, wrong, response.body)


def test_a_wrong_typed_property_names_the_property(ready):
    _, path, version, body = WRITES[9]  # a VM
    response = ready.handle(request("PUT", path, version, _replaced(body, ("properties", "hardwareProfile",
                                                                          "vmSize"), 5)))
    assert response.status == 400 and response.body["error"]["code"] == "InvalidRequestContent"
    assert "'properties.hardwareProfile.vmSize' must be a string" in response.body["error"]["message"]


def test_an_explicit_null_is_treated_as_not_given(ready):
    _, path, version, body = WRITES[7]  # a public IP
    body = _replaced(body, ("sku", "name"), None)
    response = ready.handle(request("PUT", path.replace("/ip", "/ip-null"), version, body))
    assert response.status == 201 and response.body["sku"]["name"] == "Standard"


def test_an_emulator_bug_raises_in_process(monkeypatch):
    from dsvmctl.testing import mock_azure

    with mock_azure() as azure:
        provider = azure.emulator.providers["microsoft.resources"]
        route = next(r for r in provider.routes if r.method == "GET" and r.pattern[-1] == "{rg}")
        monkeypatch.setattr(route, "handler", lambda call: {}["missing"])
        with pytest.raises(KeyError):  # through the responses door, as a test's SDK call makes it
            requests.get(f"https://management.azure.com/subscriptions/{azure.subscription_id}/resourceGroups/rg"
                         "?api-version=2024-11-01", timeout=5)
