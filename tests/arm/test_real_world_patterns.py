"""Patterns real templates use that ARM accepts (issue 10): integers in resourceId() segments,
dependsOn naming an inline child or a copy loop by name, deployment().properties.templateLink."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from dsvmctl.arm import DeploymentContext, TemplateError, expand
from dsvmctl.cli import cli

SCHEMA = "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"
RG = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers"


def _template(resources, outputs=None, parameters=None):
    return {"$schema": SCHEMA, "contentVersion": "1.0.0.0", "parameters": parameters or {},
            "resources": resources, "outputs": outputs or {}}


def _deps(expansion) -> dict[str, list[str]]:
    return {r.name: r.depends_on for r in expansion.resources}


def test_copy_index_as_a_resource_id_name_segment_is_converted_to_text_as_arm_does():
    template = _template(
        [{"type": "Microsoft.Network/loadBalancers", "apiVersion": "2023-04-01", "name": "[parameters('lbName')]",
          "location": "eastus", "properties": {}},
         {"type": "Microsoft.Network/loadBalancers/inboundNatRules", "apiVersion": "2023-04-01",
          "name": "[concat(parameters('lbName'), '/', copyIndex())]", "copy": {"name": "nat", "count": 2},
          "dependsOn": ["[parameters('lbName')]"], "properties": {"frontendPort": "[add(5000, copyIndex())]"}},
         {"type": "Microsoft.Network/networkInterfaces", "apiVersion": "2023-04-01",
          "name": "[concat('nic', copyIndex())]", "location": "eastus", "copy": {"name": "nics", "count": 2},
          "dependsOn": ["[resourceId('Microsoft.Network/loadBalancers/inboundNatRules', parameters('lbName'), "
                        "copyIndex())]"], "properties": {}}],
        outputs={"rule": {"type": "string", "value": "[resourceId('Microsoft.Network/loadBalancers/inboundNatRules', "
                          "parameters('lbName'), 7)]"}},
        parameters={"lbName": {"type": "string", "defaultValue": "lb"}})
    expansion = expand(template, {})
    assert _deps(expansion)["nic1"] == [f"{RG}/Microsoft.Network/loadBalancers/lb/inboundNatRules/1"]
    assert expansion.outputs["rule"]["value"] == f"{RG}/Microsoft.Network/loadBalancers/lb/inboundNatRules/7"


def test_resource_id_still_refuses_a_non_text_resource_type():
    template = _template([], outputs={"x": {"type": "string", "value": "[resourceId(1, 'a')]"}})
    with pytest.raises(TemplateError):
        expand(template, {})


def test_depends_on_an_inline_child_by_its_own_name_resolves_to_the_sibling():
    template = _template(
        [{"type": "Microsoft.Network/virtualNetworks", "apiVersion": "2023-04-01", "name": "vnet", "location": "eastus",
          "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]}},
          "resources": [
              {"type": "subnets", "apiVersion": "2023-04-01", "name": "[parameters('subnet1Name')]",
               "dependsOn": ["vnet"], "properties": {"addressPrefix": "10.0.0.0/24"}},
              {"type": "subnets", "apiVersion": "2023-04-01", "name": "second",
               "dependsOn": ["vnet", "[parameters('subnet1Name')]"], "properties": {"addressPrefix": "10.0.1.0/24"}}]}],
        parameters={"subnet1Name": {"type": "string", "defaultValue": "first"}})
    expansion = expand(template, {})
    assert f"{RG}/Microsoft.Network/virtualNetworks/vnet/subnets/first" in _deps(expansion)["vnet/second"]
    assert [r.name for r in expansion.resources].index("vnet/first") < [r.name for r in expansion.resources].index(
        "vnet/second")


def test_depends_on_an_unknown_bare_name_is_still_refused():
    template = _template([{"type": "Microsoft.Network/publicIPAddresses", "apiVersion": "2023-04-01", "name": "ip",
                           "location": "eastus", "dependsOn": ["nothing"], "properties": {}}])
    with pytest.raises(TemplateError) as err:
        expand(template, {})
    assert err.value.code == "UnknownResource"


def test_depends_on_a_copy_loop_by_name_waits_for_every_copy():
    template = _template(
        [{"type": "Microsoft.Network/publicIPAddresses", "apiVersion": "2023-04-01", "name": "[concat('ip', copyIndex())]",
          "location": "eastus", "copy": {"name": "ips", "count": 3}, "properties": {}},
         {"type": "Microsoft.Network/networkSecurityGroups", "apiVersion": "2023-04-01", "name": "nsg",
          "location": "eastus", "dependsOn": ["ips"], "properties": {}}])
    assert len(_deps(expand(template, {}))["nsg"]) == 3


LINKED = _template([], outputs={"base": {"type": "string", "value": "[uri(deployment().properties.templateLink.uri, "
                                                                     "'scripts/setup.sh')]"}})


def test_template_link_is_set_for_a_linked_deployment_and_refused_clearly_otherwise():
    expansion = expand(LINKED, {}, context=DeploymentContext(template_link="https://example.org/t/azuredeploy.json"))
    assert expansion.outputs["base"]["value"] == "https://example.org/t/scripts/setup.sh"
    with pytest.raises(TemplateError) as err:
        expand(LINKED, {})
    assert err.value.code == "InvalidPropertyAccess"
    assert "the property 'templateLink' doesn't exist" in err.value.message and "--template-uri" in err.value.message


def test_validate_takes_the_template_uri_from_the_command_line(tmp_path):
    path = tmp_path / "linked.json"
    path.write_text(json.dumps(LINKED))
    runner = CliRunner()
    without = runner.invoke(cli, ["validate", str(path)])
    assert without.exit_code == 1 and "--template-uri" in without.output
    given = runner.invoke(cli, ["validate", "--template-uri", "https://example.org/t/azuredeploy.json", str(path)])
    assert given.exit_code == 0, given.output


def test_providers_gives_a_resource_type_its_regions_and_api_versions_as_az_templates_read_them():
    template = _template([], outputs={"v": {"type": "string", "value":
                                            "[providers('Microsoft.Compute', 'virtualMachineScaleSets').apiVersions[0]]"}})
    assert expand(template, {}).outputs["v"]["value"] == "2024-07-01"
