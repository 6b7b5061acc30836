"""Reading ARM-flavoured JSON: comments, CRLF, BOM and duplicated keys."""

import pytest

from dsvmctl.arm import TemplateFileError, load_template
from dsvmctl.arm.source import parse_json_text


def test_line_and_block_comments_are_ignored():
    text = '{\n // a comment\n "a": 1, /* block\n comment */ "b": "x//y /* not a comment */"\n}'
    assert parse_json_text(text) == {"a": 1, "b": "x//y /* not a comment */"}


def test_crlf_line_ends_and_bom_are_accepted():
    assert parse_json_text('\ufeff{\r\n"a": 1\r\n}\r\n') == {"a": 1}


def test_duplicated_key_keeps_the_last_value():
    assert parse_json_text('{"a": 1, "a": 2}') == {"a": 2}


def test_escaped_quote_in_string_does_not_end_it_before_a_comment_marker():
    assert parse_json_text(r'{"a": "say \"hi\" // still string"}') == {"a": 'say "hi" // still string'}


def test_invalid_json_raises_file_error_with_position():
    with pytest.raises(TemplateFileError) as err:
        parse_json_text('{"a": 1,, }', "t.json")
    assert err.value.code == "InvalidJson" and "line 1" in err.value.message


def test_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(TemplateFileError) as err:
        load_template(tmp_path / "nope.json")
    assert err.value.code == "FileNotFound"


def test_json_without_resources_is_not_a_template(tmp_path):
    path = tmp_path / "x.json"
    path.write_text('{"a": 1}')
    with pytest.raises(TemplateFileError) as err:
        load_template(path)
    assert err.value.code == "NotATemplate"
