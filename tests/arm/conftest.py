"""Helpers shared by the ARM engine tests."""

from __future__ import annotations

import pytest

from dsvmctl.arm import expand


def template(resources=None, **sections) -> dict:
    """A minimal resource-group template with the given sections."""
    body = {
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "resources": resources or [],
    }
    body.update(sections)
    return body


@pytest.fixture
def evaluate():
    """evaluate("[concat('a', 'b')]") -> the value of that expression, via an output."""

    def run(expression, parameters=None, variables=None, parameter_values=None):
        tpl = template(
            parameters=parameters or {},
            variables=variables or {},
            outputs={"result": {"type": "object", "value": {"v": expression}}},
        )
        return expand(tpl, parameter_values).outputs["result"]["value"]["v"]

    return run
