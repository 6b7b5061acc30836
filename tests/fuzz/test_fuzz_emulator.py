"""(c) The emulator through its HTTPS door: any path, headers and body get a reply, never a
500, and every refusal is ARM-shaped. A real loopback server, raw HTTP over TLS."""

from __future__ import annotations

import pytest
from hypothesis import given

from dsvmctl.emulator.server import EmulatorServer

from .conftest import budget
from .corpus import ready_emulator
from .targets import DoorClient, check_door, door_requests


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    folder = tmp_path_factory.mktemp("door-fuzz")
    emulator = ready_emulator(state_dir=folder)
    with EmulatorServer(folder, emulator=emulator) as server:
        door = DoorClient(server)
        yield door
        door.close()


@pytest.mark.slow
@budget(300)
@given(case=door_requests())
def test_any_request_gets_an_arm_shaped_reply_and_never_a_500(client, case):
    check_door(client, *case)
