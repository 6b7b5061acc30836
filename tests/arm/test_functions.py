"""Every template function: what it returns, and how it refuses bad arguments."""

from datetime import datetime, timezone

import pytest

from dsvmctl.arm import DeploymentContext, TemplateError, expand
from dsvmctl.arm.hashing import arm_guid, unique_string

from .conftest import template

RG_ID = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg"

CASES = [
    # strings
    ("concat_strings", "[concat('a', 'b', 1, true())]", "ab1True"),
    ("concat_arrays", "[concat(createArray(1), createArray(2, 3))]", [1, 2, 3]),
    ("format_positional", "[format('{0}-{1}', 'a', 2)]", "a-2"),
    ("format_number_spec", "[format('{0:N2}|{1:D3}|{2:X}', 1234, 7, 255)]", "1,234.00|007|FF"),
    ("format_escaped_braces", "[format('{{x}} {0}', 1)]", "{x} 1"),
    ("toLower", "[toLower('AbC')]", "abc"),
    ("toUpper", "[toUpper('AbC')]", "ABC"),
    ("trim", "[trim('  a b  ')]", "a b"),
    ("replace", "[replace('a-b-c', '-', '_')]", "a_b_c"),
    ("substring", "[substring('abcdef', 1, 3)]", "bcd"),
    ("substring_to_end", "[substring('abcdef', 4)]", "ef"),
    ("take_string", "[take('abcdef', 3)]", "abc"),
    ("take_more_than_length", "[take(createArray(1, 2), 5)]", [1, 2]),
    ("skip_string", "[skip('abcdef', 4)]", "ef"),
    ("skip_array", "[skip(createArray(1, 2, 3), 1)]", [2, 3]),
    ("split_single", "[split('a,b,c', ',')]", ["a", "b", "c"]),
    ("split_many", "[split('a,b;c', createArray(',', ';'))]", ["a", "b", "c"]),
    ("join", "[join(createArray('a', 'b'), '+')]", "a+b"),
    ("startsWith_ignores_case", "[startsWith('Hello', 'he')]", True),
    ("endsWith_ignores_case", "[endsWith('Hello', 'LO')]", True),
    ("indexOf_string_ignores_case", "[indexOf('abcABC', 'C')]", 2),
    ("lastIndexOf_string", "[lastIndexOf('abcabc', 'c')]", 5),
    ("indexOf_missing", "[indexOf('abc', 'z')]", -1),
    ("padLeft", "[padLeft('7', 3, '0')]", "007"),
    ("padLeft_int", "[padLeft(42, 5)]", "   42"),
    ("string_of_object_is_compact_json", "[string(createObject('a', 1))]", '{"a":1}'),
    ("string_of_bool", "[string(false())]", "False"),
    ("quote_escape", "[concat('it''s')]", "it's"),
    # conversions
    ("int_from_string", "[int('42')]", 42),
    ("bool_from_string", "[bool('TRUE')]", True),
    ("bool_from_int", "[bool(0)]", False),
    ("json_object", "[json('{\"a\": [1]}').a[0]]", 1),
    ("json_null", "[json('null')]", None),
    ("base64", "[base64('hello')]", "aGVsbG8="),
    ("base64ToString", "[base64ToString('aGVsbG8=')]", "hello"),
    ("dataUri", "[dataUri('hi')]", "data:text/plain;charset=utf8;base64,aGk="),
    ("dataUriToString", "[dataUriToString('data:text/plain;charset=utf8;base64,aGk=')]", "hi"),
    ("uri_replaces_last_segment", "[uri('http://contoso.org/first/second', 'script.sh')]", "http://contoso.org/first/script.sh"),
    ("uri_appends_after_slash", "[uri('http://contoso.org/first/', 'script.sh')]", "http://contoso.org/first/script.sh"),
    ("uriComponent", "[uriComponent('a b/c')]", "a%20b%2Fc"),
    ("uriComponentToString", "[uriComponentToString('a%20b')]", "a b"),
    ("array_wraps", "[array('x')]", ["x"]),
    # arrays and objects
    ("length_string", "[length('abc')]", 3),
    ("length_array", "[length(createArray(1, 2))]", 2),
    ("length_object", "[length(createObject('a', 1, 'b', 2))]", 2),
    ("empty_string", "[empty('')]", True),
    ("empty_null", "[empty(null())]", True),
    ("empty_array_with_item", "[empty(createArray(1))]", False),
    ("contains_string_is_case_sensitive", "[contains('abc', 'B')]", False),
    ("contains_array", "[contains(createArray(1, 2), 2)]", True),
    ("contains_object_key_ignores_case", "[contains(createObject('Key', 1), 'key')]", True),
    ("first_array", "[first(createArray(1, 2))]", 1),
    ("first_string", "[first('abc')]", "a"),
    ("last_array", "[last(createArray(1, 2))]", 2),
    ("union_arrays_dedupes", "[union(createArray(1, 2), createArray(2, 3))]", [1, 2, 3]),
    ("union_objects_merge_deeply",
     "[union(createObject('a', createObject('x', 1)), createObject('a', createObject('y', 2)))]",
     {"a": {"x": 1, "y": 2}}),
    ("intersection_arrays", "[intersection(createArray(1, 2, 3), createArray(2, 3, 4))]", [2, 3]),
    ("intersection_objects", "[intersection(createObject('a', 1, 'b', 2), createObject('a', 1, 'b', 3))]", {"a": 1}),
    ("createArray", "[createArray('a', 1)]", ["a", 1]),
    ("createObject", "[createObject('a', 1)]", {"a": 1}),
    ("coalesce_skips_nulls", "[coalesce(null(), null(), 'x')]", "x"),
    ("range", "[range(5, 3)]", [5, 6, 7]),
    ("items_sorted_by_key", "[items(createObject('b', 2, 'a', 1))]", [{"key": "a", "value": 1}, {"key": "b", "value": 2}]),
    ("objectKeys", "[objectKeys(createObject('a', 1))]", ["a"]),
    ("flatten", "[flatten(createArray(createArray(1), createArray(2)))]", [1, 2]),
    ("tryGet_missing", "[tryGet(createObject('a', 1), 'b')]", None),
    ("index_access", "[createArray('a', 'b')[1]]", "b"),
    ("property_access_ignores_case", "[createObject('Name', 'x').name]", "x"),
    ("string_key_index", "[createObject('a-b', 1)['a-b']]", 1),
    # logic
    ("if_true", "[if(true(), 'yes', 'no')]", "yes"),
    ("if_skips_untaken_branch", "[if(false(), div(1, 0), 'safe')]", "safe"),
    ("equals_deep", "[equals(createArray(1, createObject('a', 2)), createArray(1, createObject('a', 2)))]", True),
    ("equals_strings_case_sensitive", "[equals('a', 'A')]", False),
    ("equals_bool_is_not_int", "[equals(true(), 1)]", False),
    ("not", "[not(true())]", False),
    ("and", "[and(true(), true(), false())]", False),
    ("and_short_circuits", "[and(false(), equals(div(1, 0), 1))]", False),
    ("or", "[or(false(), true())]", True),
    ("less", "[less(1, 2)]", True),
    ("lessOrEquals", "[lessOrEquals(2, 2)]", True),
    ("greater_strings", "[greater('b', 'a')]", True),
    ("greaterOrEquals", "[greaterOrEquals(1, 2)]", False),
    # numbers
    ("add", "[add(2, 3)]", 5),
    ("sub", "[sub(2, 3)]", -1),
    ("mul", "[mul(2, 3)]", 6),
    ("div_truncates_toward_zero", "[div(-7, 2)]", -3),
    ("mod_keeps_dividend_sign", "[mod(-7, 2)]", -1),
    ("min_args", "[min(3, 1, 2)]", 1),
    ("max_array", "[max(createArray(3, 1, 2))]", 3),
    # deployment
    ("resourceGroup", "[resourceGroup().id]", RG_ID),
    ("resourceGroup_location", "[resourceGroup().location]", "eastus"),
    ("subscription", "[subscription().subscriptionId]", "00000000-0000-0000-0000-000000000000"),
    ("deployment_name", "[deployment().name]", "deployment"),
    ("environment_storage_suffix", "[environment().suffixes.storage]", "core.windows.net"),
    ("resourceId", "[resourceId('Microsoft.Network/virtualNetworks/subnets', 'v', 's')]",
     RG_ID + "/providers/Microsoft.Network/virtualNetworks/v/subnets/s"),
    ("resourceId_other_group", "[resourceId('other', 'Microsoft.Network/virtualNetworks', 'v')]",
     "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/other/providers/Microsoft.Network/virtualNetworks/v"),
    ("resourceId_tolerates_trailing_slash", "[resourceId('Microsoft.Network/publicIPAddresses/', 'p')]",
     RG_ID + "/providers/Microsoft.Network/publicIPAddresses/p"),
    ("subscriptionResourceId", "[subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'r')]",
     "/subscriptions/00000000-0000-0000-0000-000000000000/providers/Microsoft.Authorization/roleDefinitions/r"),
    ("tenantResourceId", "[tenantResourceId('Microsoft.Management/managementGroups', 'm')]",
     "/providers/Microsoft.Management/managementGroups/m"),
    ("extensionResourceId", "[extensionResourceId('/x/y', 'Microsoft.Authorization/locks', 'l')]",
     "/x/y/providers/Microsoft.Authorization/locks/l"),
    ("uniqueString", "[uniqueString('aaa')]", "zavj67f3en4hc"),
    ("guid", "[guid('a', 'b')]", arm_guid("a", "b")),
    ("uniqueString_of_resource_group", "[uniqueString(resourceGroup().id)]", unique_string(RG_ID)),
    # lambdas
    ("filter", "[filter(range(0, 5), lambda('n', greater(lambdaVariables('n'), 2)))]", [3, 4]),
    ("map", "[map(createArray('a', 'b'), lambda('s', toUpper(lambdaVariables('s'))))]", ["A", "B"]),
    ("reduce", "[reduce(range(1, 4), 0, lambda('acc', 'n', add(lambdaVariables('acc'), lambdaVariables('n'))))]", 10),
    ("sort", "[sort(createArray(3, 1, 2), lambda('a', 'b', less(lambdaVariables('a'), lambdaVariables('b'))))]", [1, 2, 3]),
    ("toObject", "[toObject(createArray('a', 'b'), lambda('k', lambdaVariables('k')), lambda('k', length(lambdaVariables('k'))))]",
     {"a": 1, "b": 1}),
    # networking helpers
    ("cidrSubnet", "[cidrSubnet('10.0.0.0/16', 24, 2)]", "10.0.2.0/24"),
    ("cidrHost", "[cidrHost('10.0.0.0/24', 3)]", "10.0.0.4"),
    ("parseCidr", "[parseCidr('10.0.0.0/24').broadcast]", "10.0.0.255"),
]


@pytest.mark.parametrize("expression, expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_function_result(evaluate, expression, expected):
    assert evaluate(expression) == expected


def test_function_names_are_case_insensitive(evaluate):
    assert evaluate("[CONCAT('a', ToLower('B'))]") == "ab"


def test_parameters_reads_a_supplied_value(evaluate):
    assert evaluate("[parameters('p')]", {"p": {"type": "string"}}, parameter_values={"p": "v"}) == "v"


def test_parameter_names_are_case_insensitive(evaluate):
    assert evaluate("[parameters('P')]", {"p": {"type": "int", "defaultValue": 3}}) == 3


def test_variables_reads_an_evaluated_variable(evaluate):
    assert evaluate("[variables('v')]", variables={"v": "[concat('a', 'b')]"}) == "ab"


def test_double_bracket_value_is_a_literal(evaluate):
    assert evaluate("[[literal]") == "[literal]"


def test_utc_now_in_parameter_default_uses_context_time():
    tpl = template(
        parameters={"stamp": {"type": "string", "defaultValue": "[utcNow('yyyy-MM-dd')]"}},
        outputs={"o": {"type": "string", "value": "[parameters('stamp')]"}},
    )
    ctx = DeploymentContext(utc_now=datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone.utc))
    assert expand(tpl, context=ctx).outputs["o"]["value"] == "2024-05-06"


def test_new_guid_in_parameter_default_is_a_uuid():
    tpl = template(
        parameters={"g": {"type": "string", "defaultValue": "[newGuid()]"}},
        outputs={"o": {"type": "string", "value": "[parameters('g')]"}},
    )
    assert len(expand(tpl).outputs["o"]["value"]) == 36


def test_date_time_add_adds_an_iso_duration(evaluate):
    assert evaluate("[dateTimeAdd('2024-01-01T00:00:00Z', 'P1DT2H')]") == "2024-01-02T02:00:00Z"


# --- errors ---------------------------------------------------------------------------------


def _error(evaluate, expression, **kwargs) -> TemplateError:
    with pytest.raises(TemplateError) as err:
        evaluate(expression, **kwargs)
    return err.value


def test_unknown_function_is_an_explicit_error(evaluate):
    err = _error(evaluate, "[frobnicate('x')]")
    assert err.code == "UnsupportedFunction" and "frobnicate" in err.message
    assert err.path == "outputs.result.value.v"


def test_new_guid_outside_parameter_default_is_refused(evaluate):
    err = _error(evaluate, "[newGuid()]")
    assert err.code == "InvalidFunctionCall" and "defaultValue" in err.message


def test_utc_now_outside_parameter_default_is_refused(evaluate):
    assert _error(evaluate, "[utcNow()]").code == "InvalidFunctionCall"


def test_wrong_argument_count_names_the_function(evaluate):
    err = _error(evaluate, "[substring('a')]")
    assert err.code == "InvalidFunctionCall" and "substring() takes 2 to 3" in err.message


def test_wrong_argument_type_is_reported(evaluate):
    err = _error(evaluate, "[toLower(1)]")
    assert "must be a string" in err.message


def test_substring_out_of_range_is_reported(evaluate):
    assert "within the string" in _error(evaluate, "[substring('abc', 2, 5)]").message


def test_division_by_zero_is_reported(evaluate):
    assert "division by zero" in _error(evaluate, "[div(1, 0)]").message


def test_missing_property_lists_available_ones(evaluate):
    err = _error(evaluate, "[createObject('a', 1).b]")
    assert err.code == "InvalidPropertyAccess" and "available properties are: a" in err.message


def test_index_out_of_range_is_reported(evaluate):
    assert _error(evaluate, "[createArray(1)[3]]").code == "InvalidPropertyAccess"


def test_copy_index_outside_a_loop_is_refused(evaluate):
    assert "copy loop" in _error(evaluate, "[copyIndex()]").message


def test_unknown_parameter_reference_is_reported(evaluate):
    assert _error(evaluate, "[parameters('nope')]").code == "UnknownParameter"


def test_unknown_variable_reference_is_reported(evaluate):
    assert _error(evaluate, "[variables('nope')]").code == "UnknownVariable"


def test_concat_of_string_and_object_is_refused(evaluate):
    assert "union()" in _error(evaluate, "[concat('a', createObject('b', 1))]").message


def test_if_needs_a_boolean_condition(evaluate):
    assert "must be a bool" in _error(evaluate, "[if('yes', 1, 2)]").message


def test_int_of_text_is_refused(evaluate):
    assert "cannot convert" in _error(evaluate, "[int('abc')]").message


def test_lambda_variable_outside_its_lambda_is_refused(evaluate):
    assert "lambda" in _error(evaluate, "[lambdaVariables('x')]").message


def test_format_with_missing_argument_is_refused(evaluate):
    assert "{1}" in _error(evaluate, "[format('{0} {1}', 'a')]").message


def test_resource_group_in_subscription_scope_is_refused():
    tpl = template(outputs={"o": {"type": "string", "value": "[resourceGroup().name]"}})
    tpl["$schema"] = "https://schema.management.azure.com/schemas/2018-05-01/subscriptionDeploymentTemplate.json#"
    with pytest.raises(TemplateError) as err:
        expand(tpl)
    assert "subscription-scope" in err.value.message


def test_reference_in_a_variable_is_refused(evaluate):
    err = _error(evaluate, "[variables('v')]", variables={"v": "[reference('/x/y/providers/A.B/c/d').x]"})
    assert "cannot be used in a variable" in err.message and err.path == "variables.v"


# -- found by fuzzing (tests/fuzz) ----------------------------------------------------------------

def test_a_list_function_with_a_wrong_argument_is_an_invalid_function_call():
    from dsvmctl.arm import TemplateError, expand

    template = {"resources": [], "outputs": {"o": {"type": "object", "value": "[listKeys(0)]"}}}
    with pytest.raises(TemplateError) as caught:
        expand(template)
    assert caught.value.code == "InvalidFunctionCall" and "listKeys" in caught.value.message


@pytest.mark.parametrize("expression", ["[subscriptionResourceId('sub-only')]", "[tenantResourceId()]"])
def test_a_resource_id_function_without_a_type_is_an_invalid_function_call(expression):
    template = {"resources": [], "outputs": {"o": {"type": "string", "value": expression}}}
    with pytest.raises(TemplateError) as caught:
        expand(template)
    assert caught.value.code == "InvalidFunctionCall"


def test_example_values_refuse_parameters_that_are_not_an_object():
    from dsvmctl.arm import example_parameter_values

    with pytest.raises(TemplateError) as caught:
        example_parameter_values({"parameters": "[]", "resources": []})
    assert caught.value.code == "InvalidTemplate" and caught.value.path == "parameters"
