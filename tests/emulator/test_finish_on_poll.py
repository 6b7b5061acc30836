"""`finish_on_poll` (`emulator serve --finish-on-poll`): an operation whose URL a client was given
ends only when that URL is polled, so the client's other requests meanwhile see it running (the
fidelity harness replays recordings so); by default operations end on time."""

from __future__ import annotations

import json

from dsvmctl.emulator.core import Emulator
from dsvmctl.emulator.wire import Request

BASE = "https://management.azure.com"


def _client(em: Emulator):
    def send(method: str, path: str, body=None, api_version: str | None = "2024-05-01"):
        url = BASE + path + (f"?api-version={api_version}" if api_version else "")
        raw = json.dumps(body).encode() if body is not None else b""
        response = em.handle(Request(method, url, {"Content-Type": "application/json"} if raw else {}, raw))
        return response.status, json.loads(response.content() or b"null"), response.headers
    return send


def _public_ip(em: Emulator):
    send = _client(em)
    group = f"/subscriptions/{em.subscription_id}/resourcegroups/rg"
    assert send("PUT", group, {"location": "eastus"})[0] == 201
    ip = f"{group}/providers/Microsoft.Network/publicIPAddresses/ip"
    status, _, headers = send("PUT", ip, {"location": "eastus", "sku": {"name": "Standard"},
                                          "properties": {"publicIPAllocationMethod": "Static"}})
    assert status == 201 and headers["Azure-AsyncOperation"]
    return send, ip, headers["Azure-AsyncOperation"][len(BASE):]


def _state(send, path: str) -> str:
    return send("GET", path)[1]["properties"]["provisioningState"]


def test_an_operation_a_client_can_poll_runs_until_it_is_polled():
    send, ip, status_url = _public_ip(Emulator(finish_on_poll=True))
    assert [_state(send, ip) for _ in range(3)] == ["Updating"] * 3  # other requests do not end it
    assert send("GET", status_url, api_version=None)[1]["status"] == "Succeeded"
    assert _state(send, ip) == "Succeeded"


def test_by_default_an_operation_ends_on_time_whoever_polls():
    send, ip, _ = _public_ip(Emulator())
    assert _state(send, ip) == "Succeeded"


def test_an_operation_nobody_can_poll_ends_on_time_even_when_others_wait_for_polls():
    em = Emulator(finish_on_poll=True)
    send, ip, _ = _public_ip(em)
    later = em.start_operation("microsoft.compute", "eastus")  # as a Spot eviction Azure carries out later
    send("GET", ip)
    assert later.status == "Succeeded"
    assert _state(send, ip) == "Updating"
