"""Lint rules, one behaviour each, on small evaluated templates."""

from __future__ import annotations

import pytest

from dsvmctl.arm import expand
from dsvmctl.arm.lint import RULES, lint

from .conftest import template


def findings(tpl, parameters=None):
    return lint(tpl, expand(tpl, parameters))


def rules(tpl, parameters=None):
    return [f.rule for f in findings(tpl, parameters)]


def nsg_rule(**props):
    base = {"priority": 100, "direction": "Inbound", "access": "Allow", "protocol": "Tcp",
            "sourceAddressPrefix": "10.0.0.1", "destinationPortRange": "22"}
    base.update(props)
    return {"type": "Microsoft.Network/networkSecurityGroups", "apiVersion": "2024-05-01", "name": "nsg",
            "location": "[resourceGroup().location]", "properties": {"securityRules": [{"name": "r", "properties": base}]}}


def vm(size="Standard_D4ds_v5", image=None, os_profile=None, api="2024-07-01", **extra):
    body = {
        "type": "Microsoft.Compute/virtualMachines", "apiVersion": api, "name": "vm",
        "location": "[resourceGroup().location]",
        "properties": {
            "hardwareProfile": {"vmSize": size},
            "storageProfile": {"imageReference": image or {"publisher": "microsoft-dsvm", "offer": "ubuntu-2204",
                                                           "sku": "2204-gen2", "version": "latest"}},
            "osProfile": os_profile if os_profile is not None else {
                "adminUsername": "[parameters('admin')]",
                "linuxConfiguration": {"disablePasswordAuthentication": True}},
        },
    }
    body.update(extra)
    return body


ADMIN = {"admin": {"type": "string", "defaultValue": "azureuser"}}


def vm_template(*resources, **sections):
    sections.setdefault("parameters", ADMIN)
    return template(list(resources), **sections)


# --- DSVM001 -------------------------------------------------------------------------------------


@pytest.mark.parametrize("source", ["*", "Internet", "internet", "ANY", "0.0.0.0/0", "::/0"])
def test_ssh_open_to_any_source_is_an_error(source):
    assert "DSVM001" in rules(template([nsg_rule(sourceAddressPrefix=source)]))


def test_source_address_prefixes_list_is_checked():
    res = nsg_rule(sourceAddressPrefix=None, sourceAddressPrefixes=["10.0.0.0/8", "Internet"])
    assert "DSVM001" in rules(template([res]))


@pytest.mark.parametrize("ports", [{"destinationPortRange": "*"}, {"destinationPortRange": "20-25"},
                                   {"destinationPortRange": None, "destinationPortRanges": ["80", "3389"]}])
def test_port_ranges_covering_ssh_or_rdp_are_checked(ports):
    assert "DSVM001" in rules(template([nsg_rule(sourceAddressPrefix="*", **ports)]))


def test_rdp_open_to_any_source_is_reported_as_rdp():
    found = findings(template([nsg_rule(sourceAddressPrefix="*", destinationPortRange="3389")]))
    assert "RDP" in found[0].message and found[0].path == "resources[0].properties.securityRules[0].properties"


def test_restricted_source_is_accepted():
    assert "DSVM001" not in rules(template([nsg_rule(sourceAddressPrefix="203.0.113.7/32")]))


def test_deny_rule_from_anywhere_is_accepted():
    assert "DSVM001" not in rules(template([nsg_rule(sourceAddressPrefix="*", access="Deny")]))


def test_other_ports_from_anywhere_are_accepted():
    assert "DSVM001" not in rules(template([nsg_rule(sourceAddressPrefix="*", destinationPortRange="443")]))


def test_open_source_given_through_a_parameter_is_caught_after_evaluation():
    tpl = template([nsg_rule(sourceAddressPrefix="[parameters('src')]")], parameters={"src": {"type": "string"}})
    assert "DSVM001" in rules(tpl, {"src": "Internet"})


def test_security_rule_child_resource_is_checked():
    child = {"type": "Microsoft.Network/networkSecurityGroups/securityRules", "apiVersion": "2024-05-01",
             "name": "nsg/ssh", "properties": {"direction": "Inbound", "access": "Allow", "protocol": "*",
                                                "sourceAddressPrefix": "*", "destinationPortRange": "22"}}
    assert "DSVM001" in rules(template([child]))


# --- DSVM002 -------------------------------------------------------------------------------------


def test_linux_vm_with_password_login_is_an_error():
    profile = {"adminUsername": "[parameters('admin')]", "linuxConfiguration": {"disablePasswordAuthentication": False}}
    assert "DSVM002" in rules(vm_template(vm(os_profile=profile)))


def test_linux_detected_from_the_image_when_linux_configuration_is_missing():
    profile = {"adminUsername": "[parameters('admin')]", "adminPassword": "[parameters('admin')]"}
    assert "DSVM002" in rules(vm_template(vm(os_profile=profile)))


def test_windows_dsvm_with_password_is_not_a_linux_finding():
    image = {"publisher": "microsoft-dsvm", "offer": "dsvm-win-2022", "sku": "winserver-2022", "version": "latest"}
    profile = {"adminUsername": "[parameters('admin')]", "adminPassword": "[parameters('admin')]"}
    assert "DSVM002" not in rules(vm_template(vm(image=image, os_profile=profile)))


def test_microsoft_publisher_does_not_exempt_a_linux_dsvm():
    # checkov skips publishers containing "microsoft"; a DSVM is Linux all the same
    image = {"publisher": "microsoft-dsvm", "offer": "ubuntu-2204", "sku": "2204-gen2", "version": "latest"}
    profile = {"adminUsername": "[parameters('admin')]", "adminPassword": "[parameters('admin')]"}
    assert "DSVM002" in rules(vm_template(vm(image=image, os_profile=profile)))


# --- DSVM003 to DSVM005 ---------------------------------------------------------------------------


def test_secure_parameter_with_literal_default_is_an_error():
    tpl = template(parameters={"pw": {"type": "securestring", "defaultValue": "hunter2"}})
    found = findings(tpl)
    assert [f.rule for f in found] == ["DSVM003"] and found[0].path == "parameters.pw.defaultValue"


def test_secure_parameter_with_empty_or_generated_default_is_accepted():
    tpl = template(parameters={"a": {"type": "securestring", "defaultValue": ""},
                               "b": {"type": "securestring", "defaultValue": "[newGuid()]"}})
    assert rules(tpl) == []


def test_literal_admin_username_is_a_warning():
    profile = {"adminUsername": "admin", "linuxConfiguration": {"disablePasswordAuthentication": True}}
    assert "DSVM004" in rules(vm_template(vm(os_profile=profile)))


def test_admin_username_from_a_literal_variable_is_still_literal():
    profile = {"adminUsername": "[variables('user')]", "linuxConfiguration": {"disablePasswordAuthentication": True}}
    assert "DSVM004" in rules(vm_template(vm(os_profile=profile), variables={"user": "root"}))


def test_admin_username_from_a_parameter_is_accepted():
    assert "DSVM004" not in rules(vm_template(vm()))


def test_literal_location_is_a_warning():
    assert "DSVM005" in rules(vm_template(vm(location="westeurope")))


def test_global_location_is_accepted():
    res = {"type": "Microsoft.Network/dnsZones", "apiVersion": "2018-05-01", "name": "z.example", "location": "global"}
    assert rules(template([res])) == []


# --- DSVM006 -------------------------------------------------------------------------------------


def _ip(**extra):
    body = {"type": "Microsoft.Network/publicIPAddresses", "apiVersion": "2024-05-01", "name": "pip",
            "location": "[resourceGroup().location]", "properties": {}}
    body.update(extra)
    return body


def test_basic_public_ip_is_an_error():
    assert "DSVM006" in rules(template([_ip(sku={"name": "Basic"})]))


def test_public_ip_without_sku_is_basic():
    assert "DSVM006" in rules(template([_ip()]))


def test_standard_public_ip_is_accepted():
    assert rules(template([_ip(sku={"name": "Standard"})])) == []


# --- DSVM007 to DSVM010 -----------------------------------------------------------------------------


@pytest.mark.parametrize("size", ["Standard_NC6", "Standard_NC24r", "Standard_NC6_Promo", "Standard_NC12s_v3", "Standard_NC24rs_v3"])
def test_retired_size_is_an_error(size):
    image = {"publisher": "Canonical", "offer": "ubuntu-24_04-lts", "sku": "server", "version": "latest"}
    found = [f for f in findings(vm_template(vm(size=size, image=image))) if f.rule == "DSVM007"]
    assert found and found[0].severity == "error"


def test_retired_size_offered_in_allowed_values_is_a_warning():
    tpl = vm_template(vm(size="[parameters('size')]"),
                      parameters={**ADMIN, "size": {"type": "string", "defaultValue": "Standard_D4ds_v5",
                                                    "allowedValues": ["Standard_D4ds_v5", "Standard_NC6"]}})
    found = [f for f in findings(tpl) if f.rule == "DSVM007"]
    assert found[0].severity == "warning" and found[0].path == "parameters.size.allowedValues[1]"


def test_gen1_image_on_gen2_only_size_is_an_error():
    image = {"publisher": "microsoft-dsvm", "offer": "ubuntu-2004", "sku": "2004", "version": "latest"}
    assert "DSVM008" in rules(vm_template(vm(size="Standard_NC24ads_A100_v4", image=image)))


def test_generic_image_without_gen2_in_sku_is_gen1():
    image = {"publisher": "Canonical", "offer": "0001-com-ubuntu-server-jammy", "sku": "22_04-lts", "version": "latest"}
    assert "DSVM008" in rules(vm_template(vm(size="Standard_NC40ads_H100_v5", image=image)))


def test_gen2_image_on_gen2_only_size_is_accepted():
    assert "DSVM008" not in rules(vm_template(vm(size="Standard_NC24ads_A100_v4")))


def test_gpu_size_parameter_is_checked_against_the_image_generation():
    image = {"publisher": "microsoft-dsvm", "offer": "ubuntu-2004", "sku": "2004", "version": "latest"}
    tpl = vm_template(vm(image=image), parameters={**ADMIN, "gpuVmSize": {"type": "string",
                                                                        "defaultValue": "Standard_NC24ads_A100_v4"}})
    assert "DSVM008" in rules(tpl)


@pytest.mark.parametrize("offer, publisher", [("ubuntu-1804", "microsoft-dsvm"), ("linux-data-science-vm-ubuntu", "microsoft-ads")])
def test_retired_dsvm_image_is_an_error(offer, publisher):
    image = {"publisher": publisher, "offer": offer, "sku": "x-gen2", "version": "latest"}
    assert "DSVM009" in rules(vm_template(vm(image=image)))


def test_cpu_size_without_temp_disk_paired_with_gpu_size_is_an_error():
    tpl = vm_template(vm(size="Standard_D4s_v5"),
                      parameters={**ADMIN, "gpuVmSize": {"type": "string", "defaultValue": "Standard_NC4as_T4_v3"}})
    found = [f for f in findings(tpl) if f.rule == "DSVM010"]
    assert found[0].severity == "error" and "temp" in found[0].message


def test_gpu_size_tag_is_an_alternative_to_the_parameter():
    tpl = vm_template(vm(size="Standard_E4s_v5", tags={"dsvmctl-gpu-size": "Standard_NC4as_T4_v3"}))
    assert "DSVM010" in rules(tpl)


def test_cpu_size_with_temp_disk_paired_with_gpu_size_is_accepted():
    tpl = vm_template(vm(size="Standard_D4ds_v5"),
                      parameters={**ADMIN, "gpuVmSize": {"type": "string", "defaultValue": "Standard_NC4as_T4_v3"}})
    assert "DSVM010" not in rules(tpl)


def test_unknown_size_in_a_pair_is_only_information():
    tpl = vm_template(vm(size="Standard_X9_v9"),
                      parameters={**ADMIN, "gpuVmSize": {"type": "string", "defaultValue": "Standard_NC4as_T4_v3"}})
    assert [f.severity for f in findings(tpl) if f.rule == "DSVM010"] == ["info"]


# --- DSVM011 and suppressions -------------------------------------------------------------------------


def test_old_api_version_is_a_warning():
    found = [f for f in findings(vm_template(vm(api="2021-11-01"))) if f.rule == "DSVM011"]
    assert found[0].path == "resources[0].apiVersion"


def test_suppression_with_reason_silences_the_rule():
    tpl = vm_template(vm(api="2021-11-01"),
                      metadata={"dsvmctl": {"suppress": [{"rule": "DSVM011", "reason": "pinned by policy"}]}})
    assert "DSVM011" not in rules(tpl)


def test_suppression_without_reason_is_itself_a_finding_and_is_not_applied():
    tpl = vm_template(vm(api="2021-11-01"), metadata={"dsvmctl": {"suppress": [{"rule": "DSVM011"}]}})
    assert set(rules(tpl)) == {"DSVM011", "DSVM000"}


def test_suppression_of_an_unknown_rule_is_a_finding():
    tpl = template(metadata={"dsvmctl": {"suppress": [{"rule": "DSVM999", "reason": "x"}]}})
    assert rules(tpl) == ["DSVM000"]


def test_every_rule_is_documented():
    assert all(rule.startswith("DSVM") and text for rule, text in RULES.items())


def test_finding_serialises_with_rule_severity_message_path():
    found = findings(template([_ip()]))[0].to_dict()
    assert set(found) == {"rule", "severity", "message", "path"}
