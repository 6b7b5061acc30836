"""The pytest plugin the package registers (entry point `dsvmctl`): the `azure_mock` fixture.

The only module of dsvmctl that imports pytest, so a plain install never needs it."""

from __future__ import annotations

import pytest

from .testing import mock_azure


@pytest.fixture
def azure_mock():
    """An in-process emulated Azure for one test (see `dsvmctl.testing.mock_azure`)."""
    with mock_azure() as azure:
        yield azure
