"""uniqueString and guid must match what Azure computes, bit for bit."""

import pytest

from dsvmctl.arm.hashing import arm_guid, unique_string


@pytest.mark.parametrize(
    "parts, expected",
    [
        (("aaa",), "zavj67f3en4hc"),
        (("bbb",), "w5eragfxe33cy"),
        (("zzz",), "cryksdzzzawae"),
        (("xxx", "yyy", "zzz"), "lghi7k5js7itq"),
    ],
)
def test_unique_string_matches_azure_outputs(parts, expected):
    assert unique_string(*parts) == expected


def test_unique_string_joins_arguments_with_a_dash():
    assert unique_string("xxx", "yyy", "zzz") == unique_string("xxx-yyy-zzz")


def test_unique_string_is_13_base32_characters_for_long_input():
    value = unique_string("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg" * 3)
    assert len(value) == 13 and set(value) <= set("abcdefghijklmnopqrstuvwxyz234567")


def test_guid_is_uuid5_of_dash_joined_arguments_in_arm_namespace():
    import uuid

    expected = uuid.uuid5(uuid.UUID("11fb06fb-712d-4ddd-98c7-e71bbd588830"), "a-b")
    assert arm_guid("a", "b") == str(expected)


def test_guid_is_deterministic_and_version_5():
    value = arm_guid("scope", "principal", "role")
    assert value == arm_guid("scope", "principal", "role")
    assert value[14] == "5"
