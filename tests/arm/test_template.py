"""Template constructs: parameters, variables, copy loops, conditions, dependencies, nested
deployments, languageVersion 2.0, subscription scope, reference() and outputs."""

import pytest

from dsvmctl.arm import DeploymentContext, TemplateError, expand, load_parameters

from .conftest import template

RG_ID = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg"


def ip(name="[parameters('name')]", **extra):
    body = {"type": "Microsoft.Network/publicIPAddresses", "apiVersion": "2024-05-01", "name": name,
            "location": "eastus", "sku": {"name": "Standard"}, "properties": {"publicIPAllocationMethod": "Static"}}
    body.update(extra)
    return body


def error_of(tpl, parameters=None) -> TemplateError:
    with pytest.raises(TemplateError) as err:
        expand(tpl, parameters)
    return err.value


# --- parameters -------------------------------------------------------------------------------


def test_parameter_default_can_use_another_parameter():
    tpl = template(parameters={"a": {"type": "string", "defaultValue": "x"},
                               "b": {"type": "string", "defaultValue": "[concat(parameters('a'), 'y')]"}})
    assert expand(tpl).parameters["b"] == "xy"


def test_parameter_file_shape_is_accepted():
    tpl = template(parameters={"n": {"type": "int"}})
    values = {"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#",
              "contentVersion": "1.0.0.0", "parameters": {"n": {"value": 4}}}
    assert expand(tpl, values).parameters["n"] == 4


def test_plain_dict_of_values_is_accepted():
    assert expand(template(parameters={"n": {"type": "int"}}), {"n": 5}).parameters["n"] == 5


def test_rest_api_value_wrapper_shape_is_accepted():
    assert expand(template(parameters={"n": {"type": "int"}}), {"n": {"value": 6}}).parameters["n"] == 6


@pytest.mark.parametrize(
    "ptype, value",
    [("string", 1), ("int", "1"), ("int", True), ("bool", "true"), ("object", []), ("array", {}),
     ("securestring", 5), ("secureobject", "x")],
)
def test_parameter_of_wrong_type_is_refused(ptype, value):
    err = error_of(template(parameters={"p": {"type": ptype}}), {"p": value})
    assert err.code == "InvalidParameter" and err.path == "parameters.p"


def test_parameter_type_names_are_case_insensitive():
    assert expand(template(parameters={"p": {"type": "secureString"}}), {"p": "s"}).parameters["p"] == "s"


def test_value_outside_allowed_values_is_refused():
    err = error_of(template(parameters={"p": {"type": "string", "allowedValues": ["a", "b"]}}), {"p": "c"})
    assert "allowed values" in err.message


def test_every_array_item_must_be_an_allowed_value():
    tpl = template(parameters={"p": {"type": "array", "allowedValues": ["a", "b"]}})
    assert expand(tpl, {"p": ["a", "b"]}).parameters["p"] == ["a", "b"]
    assert error_of(tpl, {"p": ["a", "z"]}).code == "InvalidParameter"


def test_int_below_min_value_is_refused():
    assert "range" in error_of(template(parameters={"p": {"type": "int", "minValue": 2}}), {"p": 1}).message


def test_int_above_max_value_is_refused():
    assert error_of(template(parameters={"p": {"type": "int", "maxValue": 2}}), {"p": 3}).code == "InvalidParameter"


def test_string_longer_than_max_length_is_refused():
    assert "length" in error_of(template(parameters={"p": {"type": "string", "maxLength": 2}}), {"p": "abc"}).message


def test_string_shorter_than_min_length_is_refused():
    assert error_of(template(parameters={"p": {"type": "string", "minLength": 2}}), {"p": "a"}).code == "InvalidParameter"


def test_array_length_limits_apply():
    assert error_of(template(parameters={"p": {"type": "array", "maxLength": 1}}), {"p": [1, 2]}).code == "InvalidParameter"


def test_invalid_default_value_is_refused_too():
    tpl = template(parameters={"p": {"type": "string", "defaultValue": "c", "allowedValues": ["a"]}})
    assert error_of(tpl).path == "parameters.p.defaultValue"


def test_missing_required_parameter_is_reported():
    err = error_of(template(parameters={"p": {"type": "string"}}))
    assert err.code == "MissingParameter" and err.path == "parameters.p"


def test_value_for_undeclared_parameter_is_refused():
    assert error_of(template(), {"typo": 1}).code == "UnknownParameter"


def test_unknown_parameter_type_is_refused():
    assert "use one of" in error_of(template(parameters={"p": {"type": "number"}}), {"p": 1}).message


def test_key_vault_reference_becomes_a_placeholder_with_a_warning():
    tpl = template(parameters={"pw": {"type": "securestring"}},
                   outputs={"o": {"type": "string", "value": "[parameters('pw')]"}})
    ref = {"reference": {"keyVault": {"id": "/subscriptions/s/resourceGroups/r/providers/Microsoft.KeyVault/vaults/kv"},
                         "secretName": "admin"}}
    result = expand(tpl, {"pw": ref})
    assert "kv/admin" in result.outputs["o"]["value"]
    assert [w.code for w in result.warnings] == ["KeyVaultReference"]


def test_load_parameters_rejects_unwrapped_values_in_a_parameter_file(tmp_path):
    path = tmp_path / "p.parameters.json"
    path.write_text('{"$schema": "x/deploymentParameters.json#", "contentVersion": "1.0.0.0", "parameters": {"a": 1}}')
    with pytest.raises(TemplateError):
        load_parameters(path)


def test_user_defined_parameter_types_are_explicitly_unsupported():
    err = error_of(template(parameters={"p": {"$ref": "#/definitions/t"}}), {"p": 1})
    assert err.code == "UnsupportedConstruct"


# --- variables ----------------------------------------------------------------------------------


def test_variable_can_use_another_variable():
    tpl = template(variables={"a": "x", "b": "[concat(variables('a'), 'y')]"},
                   outputs={"o": {"type": "string", "value": "[variables('b')]"}})
    assert expand(tpl).outputs["o"]["value"] == "xy"


def test_variable_copy_block_builds_an_array():
    tpl = template(variables={"copy": [{"name": "disks", "count": 2,
                                        "input": {"lun": "[copyIndex('disks')]"}}]},
                   outputs={"o": {"type": "array", "value": "[variables('disks')]"}})
    assert expand(tpl).outputs["o"]["value"] == [{"lun": 0}, {"lun": 1}]


def test_copy_inside_a_variable_object_builds_a_property():
    tpl = template(variables={"cfg": {"name": "x", "copy": [{"name": "items", "count": 2, "input": "[copyIndex('items', 1)]"}]}},
                   outputs={"o": {"type": "object", "value": "[variables('cfg')]"}})
    assert expand(tpl).outputs["o"]["value"] == {"name": "x", "items": [1, 2]}


def test_variable_cycle_is_reported():
    tpl = template(variables={"a": "[variables('b')]", "b": "[variables('a')]"})
    assert error_of(tpl).code == "CircularDependency"


def test_every_variable_is_evaluated_even_if_unused():
    assert error_of(template(variables={"unused": "[div(1, 0)]"})).path == "variables.unused"


def test_variable_in_parameter_default_is_refused():
    tpl = template(parameters={"p": {"type": "string", "defaultValue": "[variables('v')]"}}, variables={"v": "x"})
    assert "parameter default" in error_of(tpl).message


# --- resources ------------------------------------------------------------------------------------


def test_resource_is_evaluated_with_id_and_location():
    result = expand(template([ip("pip1")]))
    res = result.resources[0]
    assert (res.type, res.name, res.api_version, res.location) == (
        "Microsoft.Network/publicIPAddresses", "pip1", "2024-05-01", "eastus")
    assert res.id == RG_ID + "/providers/Microsoft.Network/publicIPAddresses/pip1"
    assert res.properties == {"publicIPAllocationMethod": "Static"}


def test_resource_copy_loop_makes_one_resource_per_index():
    res = ip("[concat('pip', copyIndex(1))]", copy={"name": "ips", "count": 3})
    assert [r.name for r in expand(template([res])).resources] == ["pip1", "pip2", "pip3"]


def test_resource_copy_count_zero_makes_none():
    assert expand(template([ip("[concat('p', copyIndex())]", copy={"name": "ips", "count": 0})])).resources == []


def test_copy_count_must_be_an_integer():
    err = error_of(template([ip("p", copy={"name": "ips", "count": "2"})]))
    assert err.path == "resources[0].copy.count"


def test_property_copy_builds_an_array_property():
    vm = {"type": "Microsoft.Compute/virtualMachines", "apiVersion": "2024-07-01", "name": "vm",
          "properties": {"storageProfile": {"copy": [{"name": "dataDisks", "count": 2,
                                                      "input": {"lun": "[copyIndex('dataDisks')]"}}]}}}
    res = expand(template([vm])).resources[0]
    assert res.properties["storageProfile"]["dataDisks"] == [{"lun": 0}, {"lun": 1}]


def test_property_copy_can_use_the_resource_loop_index():
    res = ip("[concat('p', copyIndex())]", copy={"name": "ips", "count": 2},
             properties={"copy": [{"name": "tags", "count": 1, "input": "[concat(copyIndex(), '-', copyIndex('tags'))]"}]})
    assert [r.properties["tags"] for r in expand(template([res])).resources] == [["0-0"], ["1-0"]]


def test_false_condition_removes_the_resource():
    result = expand(template([ip("a", condition=False), ip("b", condition="[equals(1, 1)]")]))
    assert [r.name for r in result.resources] == ["b"]
    assert result.skipped == [RG_ID + "/providers/Microsoft.Network/publicIPAddresses/a"]


def test_false_condition_resource_body_is_not_evaluated():
    res = ip("a", condition=False, properties={"x": "[div(1, 0)]"})
    assert expand(template([res])).resources == []


def test_condition_must_be_boolean():
    assert "must be a bool" in error_of(template([ip("a", condition="yes")])).message


def test_depends_on_orders_resources_and_lists_ids():
    first = ip("b", dependsOn=["[resourceId('Microsoft.Network/publicIPAddresses', 'a')]"])
    result = expand(template([first, ip("a")]))
    assert [r.name for r in result.resources] == ["a", "b"]
    assert result.resources[1].depends_on == [RG_ID + "/providers/Microsoft.Network/publicIPAddresses/a"]


def test_depends_on_by_plain_name():
    result = expand(template([ip("b", dependsOn=["a"]), ip("a")]))
    assert [r.name for r in result.resources] == ["a", "b"]


def test_depends_on_a_copy_loop_name_waits_for_every_instance():
    loop = ip("[concat('a', copyIndex())]", copy={"name": "many", "count": 2})
    result = expand(template([ip("b", dependsOn=["many"]), loop]))
    assert [r.name for r in result.resources] == ["a0", "a1", "b"]
    assert len(result.resources[2].depends_on) == 2


def test_depends_on_a_false_condition_resource_is_dropped():
    result = expand(template([ip("b", dependsOn=["a"]), ip("a", condition=False)]))
    assert result.resources[0].depends_on == []


def test_depends_on_an_undefined_resource_is_reported():
    err = error_of(template([ip("b", dependsOn=["ghost"])]))
    assert err.code == "UnknownResource" and err.path == "resources[0].dependsOn[0]"


def test_dependency_cycle_is_reported_with_the_resources_involved():
    err = error_of(template([ip("a", dependsOn=["b"]), ip("b", dependsOn=["a"])]))
    assert err.code == "CircularDependency" and "'a'" in err.message and "'b'" in err.message


def test_nested_child_resource_gets_full_type_name_and_parent_dependency():
    vnet = {"type": "Microsoft.Network/virtualNetworks", "apiVersion": "2024-05-01", "name": "v",
            "properties": {},
            "resources": [{"type": "subnets", "apiVersion": "2024-05-01", "name": "s", "properties": {}}]}
    result = expand(template([vnet]))
    child = result.resources[1]
    assert (child.type, child.name) == ("Microsoft.Network/virtualNetworks/subnets", "v/s")
    assert child.id.endswith("/virtualNetworks/v/subnets/s")
    assert child.depends_on == [result.resources[0].id]


def test_name_with_wrong_segment_count_is_reported():
    res = ip("a/b")
    assert "name segment" in error_of(template([res])).message


def test_extension_resource_id_uses_its_scope():
    lock = {"type": "Microsoft.Authorization/locks", "apiVersion": "2020-05-01", "name": "lock",
            "scope": "[resourceId('Microsoft.Network/publicIPAddresses', 'a')]", "properties": {"level": "CanNotDelete"}}
    res = expand(template([ip("a"), lock])).resources[1]
    assert res.id == RG_ID + "/providers/Microsoft.Network/publicIPAddresses/a/providers/Microsoft.Authorization/locks/lock"


# --- reference() and list*() ------------------------------------------------------------------------


def test_reference_to_a_template_resource_returns_its_properties():
    tpl = template([ip("a")], outputs={"o": {"type": "string", "value": "[reference('a').publicIPAllocationMethod]"}})
    assert expand(tpl).outputs["o"]["value"] == "Static"


def test_reference_to_a_runtime_property_is_a_deploy_time_placeholder():
    tpl = template([ip("a")], outputs={"o": {"type": "string", "value": "[reference('a').ipAddress]"}})
    assert expand(tpl).outputs["o"]["value"].startswith("<deploy-time value:")


def test_reference_full_includes_the_resource_envelope():
    tpl = template([ip("a")], outputs={"o": {"type": "string",
                                              "value": "[reference('a', '2024-05-01', 'Full').sku.name]"}})
    assert expand(tpl).outputs["o"]["value"] == "Standard"


def test_reference_inside_a_resource_implies_a_dependency():
    user = ip("b", properties={"x": "[reference('a').publicIPAllocationMethod]"})
    result = expand(template([user, ip("a")]))
    assert [r.name for r in result.resources] == ["a", "b"]


def test_resolver_answers_reference_for_existing_resources():
    class Resolver:
        def reference(self, resource_id, api_version, full):
            return {"ipAddress": "20.1.2.3"} if resource_id.endswith("/a") else None

        def list_keys(self, resource_id, api_version):
            return None

    tpl = template([ip("a")], outputs={"o": {"type": "string", "value": "[reference('a').ipAddress]"}})
    assert expand(tpl, resolver=Resolver()).outputs["o"]["value"] == "20.1.2.3"


def test_reference_to_an_outside_resource_warns_and_returns_placeholders():
    other = "/subscriptions/s/resourceGroups/x/providers/Microsoft.Network/virtualNetworks/v"
    tpl = template(outputs={"o": {"type": "string", "value": f"[reference('{other}', '2024-05-01').addressSpace]"}})
    result = expand(tpl)
    assert result.outputs["o"]["value"].startswith("<deploy-time value:")
    assert [w.code for w in result.warnings] == ["ExternalReference"]


def test_reference_by_unknown_name_is_refused():
    tpl = template(outputs={"o": {"type": "string", "value": "[reference('ghost').x]"}})
    assert error_of(tpl).code == "UnknownResource"


def test_list_keys_returns_a_marked_placeholder():
    tpl = template(outputs={"o": {"type": "object", "value": "[listKeys(resourceId('Microsoft.Storage/storageAccounts', 's'), '2023-01-01')]"}})
    result = expand(tpl)
    value = result.outputs["o"]["value"]
    assert value["dsvmctlPlaceholder"] is True and value["keys"][0]["keyName"] == "key1"
    assert [w.code for w in result.warnings] == ["ListPlaceholder"]


def test_list_keys_uses_the_resolver_when_it_knows_the_resource():
    class Resolver:
        def reference(self, *args):
            return None

        def list_keys(self, resource_id, api_version):
            return {"keys": [{"value": "real"}]}

    tpl = template(outputs={"o": {"type": "string", "value": "[listKeys('/a/b/providers/M.S/t/n', '1').keys[0].value]"}})
    assert expand(tpl, resolver=Resolver()).outputs["o"]["value"] == "real"


def test_any_list_function_returns_a_placeholder():
    tpl = template(outputs={"o": {"type": "object", "value": "[listSecrets('/a/b/providers/M.S/t/n', '1')]"}})
    assert expand(tpl).outputs["o"]["value"]["function"] == "listSecrets"


# --- outputs ------------------------------------------------------------------------------------


def test_output_copy_builds_an_array():
    tpl = template(outputs={"o": {"type": "array", "copy": {"count": 2, "input": "[copyIndex()]"}}})
    assert expand(tpl).outputs["o"]["value"] == [0, 1]


def test_output_with_false_condition_is_omitted():
    assert expand(template(outputs={"o": {"type": "string", "value": "x", "condition": False}})).outputs == {}


def test_output_of_wrong_type_is_refused():
    assert "declared as int" in error_of(template(outputs={"o": {"type": "int", "value": "x"}})).message


# --- nested deployments ------------------------------------------------------------------------


def nested(scope, inner_template, parameters=None, name="inner"):
    props = {"mode": "Incremental", "template": inner_template}
    if scope:
        props["expressionEvaluationOptions"] = {"scope": scope}
    if parameters is not None:
        props["parameters"] = parameters
    return {"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": name, "properties": props}


def test_inner_scope_nested_deployment_has_its_own_parameters():
    inner = template([ip("[parameters('name')]")], parameters={"name": {"type": "string"}},
                     outputs={"n": {"type": "string", "value": "[parameters('name')]"}})
    outer = template([nested("inner", inner, {"name": {"value": "from-outer"}})],
                     outputs={"o": {"type": "string", "value": "[reference('inner').outputs.n.value]"}})
    result = expand(outer)
    assert [r.name for r in result.all_resources()] == ["inner", "from-outer"]
    assert result.outputs["o"]["value"] == "from-outer"


def test_outer_scope_nested_deployment_sees_the_parent_parameters():
    inner = template([ip("[parameters('name')]")])
    outer = template([nested(None, inner)], parameters={"name": {"type": "string", "defaultValue": "parent"}})
    assert expand(outer).resources[0].nested.resources[0].name == "parent"


def test_nested_deployment_into_another_resource_group_uses_it_for_ids():
    inner = template([ip("x")])
    dep = nested("inner", inner)
    dep["resourceGroup"] = "other"
    res = expand(template([dep])).all_resources()[1]
    assert "/resourceGroups/other/" in res.id


def test_error_in_nested_template_has_a_full_path():
    inner = template([ip("[parameters('missing')]")], parameters={})
    err = error_of(template([nested("inner", inner)]))
    assert err.path == "resources[0].properties.template.resources[0].name"


def test_template_link_deployment_warns_and_is_not_expanded():
    link = {"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "linked",
            "properties": {"mode": "Incremental", "templateLink": {"uri": "https://example.com/t.json"}}}
    result = expand(template([link]))
    assert result.resources[0].nested is None
    assert [w.code for w in result.warnings] == ["TemplateLinkNotExpanded"]


# --- languageVersion 2.0, subscription scope, user functions ---------------------------------------


def test_symbolic_resources_keep_their_names_and_depend_by_symbol():
    tpl = template({"second": ip("b", dependsOn=["first"]), "first": ip("a")}, languageVersion="2.0")
    result = expand(tpl)
    assert [(r.symbolic_name, r.name) for r in result.resources] == [("first", "a"), ("second", "b")]
    assert result.resources[1].path == "resources.second"


def test_symbolic_reference_resolves_the_resource():
    tpl = template({"p": ip("a")}, languageVersion="2.0",
                   outputs={"o": {"type": "string", "value": "[reference('p').publicIPAllocationMethod]"}})
    assert expand(tpl).outputs["o"]["value"] == "Static"


def test_existing_resource_is_referenced_but_not_deployed():
    existing = {"type": "Microsoft.Network/virtualNetworks", "apiVersion": "2024-05-01", "name": "v", "existing": True}
    result = expand(template({"v": existing}, languageVersion="2.0"))
    assert result.resources == []


def test_subscription_scope_template_creates_resource_groups():
    rg = {"type": "Microsoft.Resources/resourceGroups", "apiVersion": "2022-09-01", "name": "newrg", "location": "westus"}
    tpl = template([rg], outputs={"o": {"type": "string",
                                         "value": "[subscriptionResourceId('Microsoft.Resources/resourceGroups', 'newrg')]"}})
    tpl["$schema"] = "https://schema.management.azure.com/schemas/2018-05-01/subscriptionDeploymentTemplate.json#"
    result = expand(tpl)
    assert result.scope == "subscription"
    assert result.resources[0].id == "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/newrg"


def test_management_group_scope_is_explicitly_unsupported():
    tpl = template()
    tpl["$schema"] = "https://schema.management.azure.com/schemas/2019-08-01/managementGroupDeploymentTemplate.json#"
    assert error_of(tpl).code == "UnsupportedConstruct"


def test_user_defined_function_is_called_with_its_parameters():
    functions = [{"namespace": "my", "members": {"greet": {
        "parameters": [{"name": "who", "type": "string"}],
        "output": {"type": "string", "value": "[concat('hi ', parameters('who'))]"}}}}]
    tpl = template(functions=functions, outputs={"o": {"type": "string", "value": "[my.greet('you')]"}})
    assert expand(tpl).outputs["o"]["value"] == "hi you"


def test_context_sets_resource_group_and_subscription():
    ctx = DeploymentContext(subscription_id="sub", resource_group="mine", location="westeurope")
    tpl = template(outputs={"o": {"type": "string", "value": "[concat(resourceGroup().id, '@', resourceGroup().location)]"}})
    assert expand(tpl, context=ctx).outputs["o"]["value"] == "/subscriptions/sub/resourceGroups/mine@westeurope"


def test_deployment_template_link_comes_from_the_context():
    ctx = DeploymentContext(template_link="https://example.com/a/azuredeploy.json")
    tpl = template(outputs={"o": {"type": "string", "value": "[uri(deployment().properties.templateLink.uri, 'x.sh')]"}})
    assert expand(tpl, context=ctx).outputs["o"]["value"] == "https://example.com/a/x.sh"


def test_error_path_points_into_resource_properties():
    vm = {"type": "Microsoft.Compute/virtualMachines", "apiVersion": "2024-07-01", "name": "vm",
          "properties": {"osProfile": {"adminUsername": "[parameters('nope')]"}}}
    err = error_of(template([ip("a"), ip("b"), vm]))
    assert err.path == "resources[2].properties.osProfile.adminUsername"
