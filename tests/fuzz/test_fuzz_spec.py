"""(a) TOML environment specs: every document loads, or is refused with a dsvmctl error."""

from __future__ import annotations

import pytest
from hypothesis import given

from .conftest import budget
from .targets import check_spec, spec_documents


@pytest.mark.slow
@budget(300)
@given(text=spec_documents())
def test_any_toml_spec_loads_or_is_a_dsvmctl_error(text, tmp_path_factory):
    check_spec(text, tmp_path_factory.mktemp("spec", numbered=True))
