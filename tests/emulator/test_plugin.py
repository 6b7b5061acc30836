"""The pytest plugin users get with the package: an `azure_mock` fixture, and the decorator form."""

from __future__ import annotations

from azure.mgmt.resource.resources import ResourceManagementClient

from dsvmctl.testing import mock_azure


def test_azure_mock_fixture_routes_default_endpoints_to_the_emulator(azure_mock):
    client = ResourceManagementClient(azure_mock.credential, azure_mock.subscription_id)
    client.resource_groups.create_or_update("from-fixture", {"location": "westeurope"})
    assert azure_mock.emulator.resource_group("from-fixture")["location"] == "westeurope"
    assert azure_mock.count_requests("PUT", "/resourcegroups/from-fixture$") == 1


@mock_azure()
def test_decorator_form_gives_each_test_a_fresh_azure():
    from azure.core.exceptions import ResourceNotFoundError

    from dsvmctl.emulator.credentials import StaticTokenCredential

    client = ResourceManagementClient(StaticTokenCredential(), "00000000-0000-0000-0000-000000000001")
    try:
        client.resource_groups.get("from-fixture")
    except ResourceNotFoundError as err:
        assert err.error.code == "ResourceGroupNotFound"
    else:
        raise AssertionError("state leaked from another test")


def test_client_secret_credential_works_in_process():
    from azure.identity import ClientSecretCredential

    with mock_azure() as azure:
        credential = ClientSecretCredential(azure.tenant_id, "my-app", "my-secret")
        client = ResourceManagementClient(credential, azure.subscription_id)
        assert [g.name for g in client.resource_groups.list()] == []
        assert azure.count_requests("GET", "/resourcegroups$") == 1


def test_https_server_listens_on_loopback_only(tmp_path):
    from dsvmctl.emulator.server import EmulatorServer

    with EmulatorServer(tmp_path) as server:
        assert server.httpd.server_address[0] == "127.0.0.1"
        assert server.endpoint()["arm_endpoint"].startswith("https://127.0.0.1:")


def test_https_door_refuses_calls_without_a_token_and_a_wrong_secret(tmp_path):
    import pytest
    import requests
    from azure.core.exceptions import ClientAuthenticationError
    from azure.identity import ClientSecretCredential

    from dsvmctl.emulator.server import EmulatorServer

    with EmulatorServer(tmp_path) as server:
        ep = server.endpoint()
        bare = requests.get(f"{ep['arm_endpoint']}/subscriptions?api-version=2025-04-01", verify=ep["ca_bundle"],
                            timeout=10)
        assert bare.status_code == 401 and bare.json()["error"]["code"] == "AuthenticationFailed"
        forged = requests.get(f"{ep['arm_endpoint']}/subscriptions?api-version=2025-04-01", verify=ep["ca_bundle"],
                              headers={"Authorization": "Bearer a.b.c"}, timeout=10)
        assert forged.status_code == 401 and forged.json()["error"]["code"] == "InvalidAuthenticationToken"
        wrong = ClientSecretCredential(ep["tenant_id"], ep["client_id"], "not-the-secret",
                                       authority=ep["authority_host"], connection_verify=ep["ca_bundle"],
                                       disable_instance_discovery=True)
        with pytest.raises(ClientAuthenticationError, match="AADSTS7000215"):
            wrong.get_token(ep["credential_scope"])
