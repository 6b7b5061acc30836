"""Cloud metadata as each client reads it, and the commands endpoint.json gives for the Azure CLI."""

from __future__ import annotations

import json

import requests

from dsvmctl.emulator.server import EmulatorServer


def _get(server, path: str):
    return requests.get(f"{server.base_url}{path}", verify=str(server.ca_path), timeout=10)


def test_metadata_answers_in_the_shape_real_arm_gives_per_api_version(tmp_path):
    with EmulatorServer(tmp_path / "em") as server:
        one = _get(server, "/metadata/endpoints?api-version=2022-09-01").json()
        listed = _get(server, "/metadata/endpoints?api-version=2019-05-01").json()
        old = _get(server, "/metadata/endpoints?api-version=2015-01-01").json()
        slashed = _get(server, "//metadata/endpoints?api-version=2022-09-01")  # `--endpoint-resource-manager URL/`
    assert isinstance(one, dict) and one["resourceManager"] == server.base_url
    assert one["authentication"]["loginEndpoint"] == server.base_url and one["authentication"]["audiences"]
    assert one["name"] and one["suffixes"]["storage"] == "core.windows.net"
    assert isinstance(listed, list) and listed[0]["resourceManager"] == server.base_url
    assert set(old) == {"galleryEndpoint", "graphEndpoint", "portalEndpoint", "authentication"}
    assert slashed.status_code == 200 and slashed.json() == one


def test_the_azure_cli_maps_the_2022_09_01_answer_as_one_cloud(tmp_path):
    """The mapping az applies (azure.cli.core.cloud._arm_to_cli_mapper) reads these keys of ONE object."""
    with EmulatorServer(tmp_path / "em") as server:
        cloud = _get(server, "/metadata/endpoints?api-version=2022-09-01").json()
        alias_doc = _get(server, "/metadata/vmImageAliasDoc")
        alias_url_from_metadata = cloud["vmImageAliasDoc"]
    for key in ("name", "resourceManager", "activeDirectoryDataLake", "graphAudience", "portal", "sqlManagement",
                "gallery", "batch", "media"):
        assert key in cloud, key
    assert cloud["authentication"]["audiences"][0]
    assert alias_url_from_metadata.endswith("/metadata/vmImageAliasDoc")
    aliases = alias_doc.json()["outputs"]["aliases"]["value"]
    assert aliases["Linux"]["Ubuntu2204"]["publisher"] == "Canonical"
    assert "Win2022Datacenter" in aliases["Windows"]


def test_endpoint_json_holds_the_az_commands_to_paste(tmp_path):
    with EmulatorServer(tmp_path / "em") as server:
        endpoint = json.loads((tmp_path / "em" / "endpoint.json").read_text())
    commands = endpoint["az_commands"]
    assert f"az cloud register -n dsvmctl-emulator --endpoint-resource-manager {server.base_url}" in commands
    assert (f"az login --service-principal -u {endpoint['client_id']} -p {endpoint['client_secret']} "
            f"--tenant {endpoint['tenant_id']}") in commands
    assert f"export REQUESTS_CA_BUNDLE={endpoint['ca_bundle']}" in commands
