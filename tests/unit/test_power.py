"""PowerState: Azure's instance-view power codes, parsed once, asked by property."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from dsvmctl.cloud.power import PowerState


@pytest.mark.parametrize("code, state", [("PowerState/running", PowerState.RUNNING),
                                         ("PowerState/deallocated", PowerState.DEALLOCATED),
                                         ("PowerState/deallocating", PowerState.DEALLOCATING),
                                         ("stopped", PowerState.STOPPED), ("Running", PowerState.RUNNING)])
def test_instance_view_codes_and_bare_words_parse_to_the_same_state(code, state):
    assert PowerState.parse(code) is state


def test_a_code_azure_may_add_later_parses_as_unknown_instead_of_failing():
    assert PowerState.parse("PowerState/hibernated") is PowerState.UNKNOWN
    assert PowerState.parse(None) is PowerState.UNKNOWN


def test_the_power_state_is_found_among_the_other_statuses_of_an_instance_view():
    statuses = [SimpleNamespace(code="ProvisioningState/succeeded"), SimpleNamespace(code="PowerState/stopped")]
    assert PowerState.from_statuses(statuses) is PowerState.STOPPED
    assert PowerState.from_statuses([{"code": "PowerState/starting"}]) is PowerState.STARTING
    assert PowerState.from_statuses([SimpleNamespace(code="ProvisioningState/updating")]) is PowerState.UNKNOWN
    assert PowerState.from_statuses(None) is PowerState.UNKNOWN


def test_only_running_and_stopped_vms_hold_their_hardware():
    assert {s for s in PowerState if s.holds_hardware} == {PowerState.RUNNING, PowerState.STOPPED}


def test_starting_stopping_and_deallocating_are_transitional_and_not_settled():
    transitional = {s for s in PowerState if s.transitional}
    assert transitional == {PowerState.STARTING, PowerState.STOPPING, PowerState.DEALLOCATING}
    assert not any(s.settled for s in transitional)
    assert not PowerState.UNKNOWN.settled and not PowerState.ABSENT.settled


def test_json_and_text_show_azure_s_word_so_json_output_is_unchanged():
    assert json.dumps({"power_state": PowerState.DEALLOCATED}) == '{"power_state": "deallocated"}'
    assert f"{PowerState.RUNNING:<9}|" == "running  |"
    assert PowerState.RUNNING == "running" and PowerState.RUNNING.code == "PowerState/running"
