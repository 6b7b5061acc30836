"""The expression tokenizer and parser."""

import pytest

from dsvmctl.arm import TemplateError
from dsvmctl.arm.parse import Call, Index, Literal, Member, is_expression, parse_expression, unescape_literal


def test_nested_calls_parse_into_a_tree():
    node = parse_expression("concat(parameters('a'), 'b')")
    assert node == Call("concat", (Call("parameters", (Literal("a"),), 7), Literal("b")), 0)


def test_doubled_quote_inside_string_is_one_quote():
    assert parse_expression("'it''s'") == Literal("it's")


def test_property_and_index_access_chain():
    node = parse_expression("variables('x').items[1].name")
    assert isinstance(node, Member) and node.name == "name"
    assert isinstance(node.target, Index) and node.target.index == Literal(1)


def test_negative_integer_literal():
    assert parse_expression("-5") == Literal(-5)


def test_dotted_function_name_is_a_user_function_call():
    assert parse_expression("ns.fn(1)").name == "ns.fn"


def test_double_bracket_escapes_an_expression():
    assert not is_expression("[[not an expression]")
    assert unescape_literal("[[not an expression]") == "[not an expression]"


def test_string_without_closing_bracket_is_not_an_expression():
    assert not is_expression("[abc")


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("concat('a'", "expected ')'"),
        ("concat('a)", "unterminated string"),
        ("concat('a') 'b'", "unexpected"),
        ("foo", "not a function call"),
        ("", "empty"),
        ("concat(#)", "unexpected character '#'"),
    ],
)
def test_syntax_errors_are_invalid_expression_errors(text, fragment):
    with pytest.raises(TemplateError) as err:
        parse_expression(text)
    assert err.value.code == "InvalidExpression"
    assert fragment in err.value.message
