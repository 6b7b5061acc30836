"""(b) ARM templates and expressions: every input expands, or is refused with a TemplateError."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from .conftest import budget
from .targets import EXPRESSIONS, RAW_EXPRESSIONS, check_template, expression_template, templates


@budget(400)
@given(expression=st.one_of(EXPRESSIONS, RAW_EXPRESSIONS))
def test_any_expression_evaluates_or_is_a_template_error(expression):
    check_template(expression_template(expression), None)


@pytest.mark.slow
@budget(180)
@given(case=templates())
def test_any_template_expands_or_is_a_template_error(case):
    template, parameters = case
    check_template(template, parameters)
