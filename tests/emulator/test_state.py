"""State: persisted across restarts, consistent under concurrent requests."""

from __future__ import annotations

import json
import threading

from dsvmctl.emulator.core import Emulator
from dsvmctl.emulator.wire import Request

BASE = "https://management.azure.com"


def _put(em: Emulator, path: str, body: dict, version: str = "2025-04-01"):
    return em.handle(Request("PUT", f"{BASE}{path}?api-version={version}", body=json.dumps(body).encode()))


def test_state_survives_a_restart(tmp_path):
    em = Emulator(state_dir=tmp_path)
    sub = em.subscription_id
    _put(em, f"/subscriptions/{sub}/resourcegroups/rg", {"location": "westeurope", "tags": {"team": "ml"}})
    _put(em, f"/subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.Network/publicIPAddresses/ip",
         {"location": "westeurope", "sku": {"name": "Standard"}}, "2024-05-01")
    address = em.get(f"/subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.Network/publicIPAddresses/ip")[
        "properties"]["ipAddress"]
    again = Emulator(state_dir=tmp_path)
    group = again.resource_group("rg")
    assert group["tags"] == {"team": "ml"} and group["location"] == "westeurope"
    ip = again.get(f"/subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.Network/publicIPAddresses/ip")
    assert ip["properties"]["ipAddress"] == address


def test_concurrent_writes_do_not_lose_resources(tmp_path):
    em = Emulator(state_dir=tmp_path)
    sub = em.subscription_id
    _put(em, f"/subscriptions/{sub}/resourcegroups/rg", {"location": "eastus"})
    errors: list[int] = []

    def create(index: int) -> None:
        response = _put(em, f"/subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.Network/publicIPAddresses/"
                        f"ip{index}", {"location": "eastus", "sku": {"name": "Standard"}}, "2024-05-01")
        if response.status != 201:
            errors.append(response.status)

    threads = [threading.Thread(target=create, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    ips = em.find("Microsoft.Network/publicIPAddresses")
    assert len(ips) == 40
    assert len({ip["properties"]["ipAddress"] for ip in ips}) == 40  # no address handed out twice
    assert len(Emulator(state_dir=tmp_path).find("Microsoft.Network/publicIPAddresses")) == 40


def test_registration_is_required_when_configured_until_the_namespace_is_registered():
    # (azure-mgmt-core's auto-registration policy reads the 409 body, which the SDK's streamed
    # LRO calls have not loaded yet, so real clients must register explicitly, as here.)
    em = Emulator(require_registration=True)
    sub = em.subscription_id
    _put(em, f"/subscriptions/{sub}/resourcegroups/rg", {"location": "eastus"})
    ip_path = f"/subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.Network/publicIPAddresses/ip"
    refused = _put(em, ip_path, {"location": "eastus"}, "2024-05-01")
    assert refused.status == 409 and refused.body["error"]["code"] == "MissingSubscriptionRegistration"
    assert "'Microsoft.Network'" in refused.body["error"]["message"]
    provider = f"{BASE}/subscriptions/{sub}/providers/Microsoft.Network"
    assert em.handle(Request("GET", f"{provider}?api-version=2016-02-01")).body["registrationState"] == "NotRegistered"
    assert em.handle(Request("POST", f"{provider}/register?api-version=2016-02-01")).status == 200
    assert em.handle(Request("GET", f"{provider}?api-version=2016-02-01")).body["registrationState"] == "Registered"
    assert _put(em, ip_path, {"location": "eastus"}, "2024-05-01").status == 201
