"""Operations real client code calls (issue 10): disks and snapshots as LROs, disk SAS access, VM
maintenance actions, images from a generalized VM, availability sets, load balancers, route
tables, CheckIPAddressAvailability and Microsoft.Storage accounts, through the unmodified SDKs."""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError

from .builders import linux_vm, network_for_vm, vnet


def test_a_disk_is_a_202_lro_whose_final_body_has_the_fields_azure_always_returns(group):
    response = group.request("PUT", group.rg_path("rg", "/providers/Microsoft.Compute/disks/d1"),
                             {"location": "eastus", "sku": {"name": "Premium_LRS"},
                              "properties": {"creationData": {"createOption": "Empty"}, "diskSizeGB": 64}})
    assert response.status_code == 202
    assert response.headers["Azure-AsyncOperation"] and response.headers["Location"]
    disk = group.compute_client().disks.get("rg", "d1")
    assert disk.provisioning_state == "Succeeded"
    assert (disk.disk_iops_read_write, disk.disk_m_bps_read_write) == (120, 25)
    assert disk.encryption.type == "EncryptionAtRestWithPlatformKey"
    assert disk.network_access_policy == "AllowAll" and disk.tier == "P6"


def test_a_snapshot_copies_a_disk_and_grant_access_hands_out_a_sas_shaped_uri(group):
    compute = group.compute_client()
    disk = compute.disks.begin_create_or_update("rg", "d1", {"location": "eastus", "properties": {
        "creationData": {"createOption": "Empty"}, "diskSizeGB": 32}}).result()
    snap = compute.snapshots.begin_create_or_update("rg", "s1", {"location": "eastus", "properties": {
        "creationData": {"createOption": "Copy", "sourceResourceId": disk.id}, "incremental": True}}).result()
    assert (snap.disk_size_gb, snap.incremental, snap.provisioning_state) == (32, True, "Succeeded")
    access = compute.disks.begin_grant_access("rg", "d1", {"access": "Read", "durationInSeconds": 3600}).result()
    assert access.access_sas.startswith("https://md-") and "&sig=" in access.access_sas
    assert compute.disks.get("rg", "d1").disk_state == "ActiveSAS"
    compute.disks.begin_revoke_access("rg", "d1").result()
    assert compute.disks.get("rg", "d1").disk_state == "Unattached"


def test_an_image_needs_a_generalized_vm_and_generalize_needs_it_stopped(door):
    nic_id = network_for_vm(door)
    compute = door.compute_client()
    vm = compute.virtual_machines.begin_create_or_update("rg", "vm1", linux_vm(nic_id)).result()
    image = {"location": "eastus", "properties": {"sourceVirtualMachine": {"id": vm.id}}}
    with pytest.raises(HttpResponseError) as err:
        compute.virtual_machines.generalize("rg", "vm1")
    assert (err.value.status_code, err.value.error.code) == (409, "OperationNotAllowed")
    with pytest.raises(HttpResponseError) as err:
        compute.images.begin_create_or_update("rg", "img", image).result()
    assert "not generalized" in err.value.error.message
    compute.virtual_machines.begin_redeploy("rg", "vm1").result()
    compute.virtual_machines.begin_reapply("rg", "vm1").result()
    compute.virtual_machines.begin_deallocate("rg", "vm1").result()
    compute.virtual_machines.generalize("rg", "vm1")
    made = compute.images.begin_create_or_update("rg", "img", image).result()
    assert made.storage_profile.os_disk.os_state == "Generalized"
    assert made.hyper_v_generation == "V2" and made.provisioning_state == "Succeeded"


def test_simulate_eviction_is_for_spot_vms_only(door):
    nic_id = network_for_vm(door)
    compute = door.compute_client()
    compute.virtual_machines.begin_create_or_update("rg", "vm1", linux_vm(nic_id)).result()
    with pytest.raises(HttpResponseError) as err:
        compute.virtual_machines.simulate_eviction("rg", "vm1")
    assert err.value.status_code == 409
    assert err.value.error.message == "Operation 'simulateEviction' is allowed only for Spot Virtual Machines"


def test_availability_set_crud_and_its_domain_count_rules(group):
    compute = group.compute_client()
    made = compute.availability_sets.create_or_update("rg", "as1", {"location": "eastus", "sku": {"name": "Aligned"},
                                                      "properties": {"platformFaultDomainCount": 2}})
    assert (made.platform_fault_domain_count, made.platform_update_domain_count, made.sku.name) == (2, 5, "Aligned")
    assert [a.name for a in compute.availability_sets.list("rg")] == ["as1"]
    with pytest.raises(HttpResponseError) as err:
        compute.availability_sets.create_or_update("rg", "as2", {"location": "eastus", "properties": {
            "platformFaultDomainCount": 4}})
    assert err.value.error.code == "InvalidParameter"
    compute.availability_sets.delete("rg", "as1")
    assert list(compute.availability_sets.list("rg")) == []


def test_a_load_balancer_links_its_frontend_pool_and_probe_to_the_rule_using_them(group):
    network = group.network_client()
    lb_id = group.rg_path("rg", "/providers/Microsoft.Network/loadBalancers/lb")
    subnet = network.virtual_networks.begin_create_or_update("rg", "vnet", vnet()).result().subnets[0]
    lb = network.load_balancers.begin_create_or_update("rg", "lb", {"location": "eastus", "properties": {
        "frontendIPConfigurations": [{"name": "fe", "properties": {"subnet": {"id": subnet.id}}}],
        "backendAddressPools": [{"name": "pool"}],
        "probes": [{"name": "p", "properties": {"protocol": "Tcp", "port": 22}}],
        "loadBalancingRules": [{"name": "r", "properties": {
            "frontendIPConfiguration": {"id": f"{lb_id}/frontendIPConfigurations/fe"},
            "backendAddressPool": {"id": f"{lb_id}/backendAddressPools/pool"}, "probe": {"id": f"{lb_id}/probes/p"},
            "protocol": "Tcp", "frontendPort": 80, "backendPort": 80}}]}}).result()
    rule_id = f"{lb_id}/loadBalancingRules/r"
    assert lb.provisioning_state == "Succeeded"
    assert [r.id for r in lb.frontend_ip_configurations[0].load_balancing_rules] == [rule_id]
    assert [r.id for r in lb.backend_address_pools[0].load_balancing_rules] == [rule_id]
    assert network.load_balancer_probes.get("rg", "lb", "p").interval_in_seconds == 15
    network.load_balancers.begin_delete("rg", "lb").result()
    assert list(network.load_balancers.list("rg")) == []


def test_route_table_routes_are_child_resources(group):
    network = group.network_client()
    network.route_tables.begin_create_or_update("rg", "rt", {"location": "eastus"}).result()
    route = network.routes.begin_create_or_update("rg", "rt", "r1", {"properties": {
        "addressPrefix": "10.1.0.0/16", "nextHopType": "VirtualNetworkGateway"}}).result()
    assert (route.provisioning_state, route.has_bgp_override) == ("Succeeded", False)
    assert [r.name for r in network.route_tables.get("rg", "rt").routes] == ["r1"]
    network.routes.begin_delete("rg", "rt", "r1").result()
    assert network.route_tables.get("rg", "rt").routes == []


def test_check_ip_address_availability_offers_free_addresses_when_taken(door):
    network_for_vm(door)
    network = door.network_client()
    taken = network.network_interfaces.get("rg", "nic1").ip_configurations[0].private_ip_address
    assert taken == "10.0.0.4"
    answer = network.virtual_networks.check_ip_address_availability("rg", "vnet", ip_address=taken)
    assert answer.available is False and "10.0.0.5" in answer.available_ip_addresses
    assert network.virtual_networks.check_ip_address_availability("rg", "vnet", ip_address="10.0.0.9").available is True


def test_storage_account_create_keys_name_rules_and_delete(group):
    path = group.rg_path("rg", "/providers/Microsoft.Storage/storageAccounts")
    body = {"location": "eastus", "sku": {"name": "Standard_LRS"}, "kind": "StorageV2"}
    created = group.request("PUT", f"{path}/diag01", body, api_version="2023-01-01")
    assert created.status_code == 202 and "asyncoperations" in created.headers["Location"]
    done = group.request("GET", created.headers["Location"].split(group.base_url, 1)[1], api_version=None)
    assert done.status_code == 200
    assert done.json()["properties"]["primaryEndpoints"]["blob"] == "https://diag01.blob.core.windows.net/"
    keys = group.request("POST", f"{path}/diag01/listKeys", api_version="2023-01-01").json()["keys"]
    assert [k["keyName"] for k in keys] == ["key1", "key2"] and all(len(k["value"]) == 88 for k in keys)
    bad = group.request("PUT", f"{path}/Bad_Name", body, api_version="2023-01-01")
    assert (bad.status_code, bad.json()["error"]["code"]) == (400, "AccountNameInvalid")
    taken = group.request("POST", f"/subscriptions/{group.subscription_id}/providers/Microsoft.Storage/"
                          "checkNameAvailability", {"name": "diag01", "type": "Microsoft.Storage/storageAccounts"},
                          api_version="2023-01-01").json()
    assert taken["nameAvailable"] is False and taken["reason"] == "AlreadyExists"
    assert group.request("DELETE", f"{path}/diag01", api_version="2023-01-01").status_code == 200
    assert group.request("DELETE", f"{path}/diag01", api_version="2023-01-01").status_code == 204
    nameless = group.request("PUT", f"{path}/nosku01", {"location": "eastus"}, api_version="2023-01-01")
    assert (nameless.status_code, nameless.json()["error"]["code"]) == (400, "MissingRequiredProperty")


def test_a_storage_account_of_the_2015_api_names_its_sku_account_type(group):
    path = group.rg_path("rg", "/providers/Microsoft.Storage/storageAccounts/old01")
    group.request("PUT", path, {"location": "eastus", "properties": {"accountType": "standard_grs"}},
                  api_version="2015-06-15")
    account = group.request("GET", path, api_version="2015-06-15").json()
    assert (account["sku"]["name"], account["kind"], account["properties"]["accountType"]) == (
        "Standard_GRS", "Storage", "Standard_GRS")


def test_group_export_template_is_a_202_lro_whose_result_is_a_template_of_the_group(group):
    group.request("PUT", group.rg_path("rg", "/providers/Microsoft.Network/networkSecurityGroups/nsg1"),
                  {"location": "eastus"})
    started = group.request("POST", group.rg_path("rg", "/exportTemplate"), {"resources": ["*"]},
                            api_version="2022-09-01")
    assert started.status_code == 202
    result = group.request("GET", started.headers["Location"].split(group.base_url, 1)[1], api_version=None).json()
    assert [r["type"] for r in result["template"]["resources"]] == ["Microsoft.Network/networkSecurityGroups"]
    assert result["template"]["contentVersion"] == "1.0.0.0"
    again = group.request("POST", group.rg_path("rg", "/exportTemplate"), {"resources": ["*"]}, api_version="2022-09-01")
    group.request("PUT", group.rg_path("bare"), {"location": "eastus"}, api_version="2022-09-01")
    bare = group.request("POST", group.rg_path("bare", "/exportTemplate"), {"resources": ["*"]},
                         api_version="2022-09-01")
    assert again.status_code == 202 and (bare.status_code, bare.json()["template"]["resources"]) == (200, [])


def test_cancelling_a_finished_deployment_is_a_409(group):
    template = {"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
                "contentVersion": "1.0.0.0", "resources": []}
    path = group.rg_path("rg", "/providers/Microsoft.Resources/deployments/d1")
    assert group.request("PUT", path, {"properties": {"mode": "Incremental", "template": template}},
                         api_version="2022-09-01").status_code == 201
    group.request("GET", path, api_version="2022-09-01")  # the deployment runs to its end
    cancel = group.request("POST", f"{path}/cancel", api_version="2022-09-01")
    assert (cancel.status_code, cancel.json()["error"]["code"]) == (409, "DeploymentCannotBeCancelled")
    exported = group.request("POST", f"{path}/exportTemplate", api_version="2022-09-01")
    assert exported.status_code == 200 and exported.json()["template"]["resources"] == []


def test_tags_at_a_scope_merge_replace_and_delete_and_tag_names_count_their_use(group):
    path = group.rg_path("rg", "/providers/Microsoft.Resources/tags/default")
    group.request("PUT", path, {"properties": {"tags": {"a": "1"}}}, api_version="2021-04-01")
    merged = group.request("PATCH", path, {"operation": "Merge", "properties": {"tags": {"b": "2"}}},
                           api_version="2021-04-01").json()
    assert merged["properties"]["tags"] == {"a": "1", "b": "2"}
    deleted = group.request("PATCH", path, {"operation": "Delete", "properties": {"tags": {"a": "1"}}},
                            api_version="2021-04-01").json()
    assert deleted["properties"]["tags"] == {"b": "2"}
    names = group.request("GET", f"/subscriptions/{group.subscription_id}/tagNames", api_version="2021-04-01").json()
    assert {n["tagName"]: n["count"]["value"] for n in names["value"]} == {"b": 1}
    made = group.request("PUT", f"/subscriptions/{group.subscription_id}/tagNames/env", api_version="2021-04-01")
    assert made.status_code == 201 and made.json()["values"] == []


def test_template_spec_versions_live_under_their_spec_and_go_with_it(group):
    spec = group.rg_path("rg", "/providers/Microsoft.Resources/templateSpecs/spec1")
    assert group.request("PUT", spec, {"location": "westus", "properties": {"description": "d"}},
                         api_version="2021-05-01").status_code == 201
    version = {"location": "westus", "properties": {"mainTemplate": {"resources": []}}}
    assert group.request("PUT", f"{spec}/versions/1.0", version, api_version="2021-05-01").status_code == 201
    shown = group.request("GET", spec, api_version="2021-05-01").json()
    assert list(shown["properties"]["versions"]) == ["1.0"]
    updated = group.request("PUT", spec, {"location": "westus", "properties": {"description": "d2"}},
                            api_version="2021-05-01")
    assert updated.status_code == 201  # Azure answers 201 to an update too
    assert group.request("DELETE", spec, api_version="2021-05-01").status_code == 200
    gone = group.request("GET", f"{spec}/versions/1.0", api_version="2021-05-01")
    assert (gone.status_code, gone.json()["error"]["code"]) == (404, "ResourceNotFound")


def test_a_scale_set_keeps_one_instance_per_capacity_unit_and_acts_on_chosen_instances(group):
    compute = group.compute_client()
    vmss = compute.virtual_machine_scale_sets.begin_create_or_update("rg", "ss", {
        "location": "eastus", "sku": {"name": "Standard_D4ds_v5", "capacity": 3},
        "properties": {"upgradePolicy": {"mode": "Manual"}, "virtualMachineProfile": {
            "storageProfile": {"imageReference": {"publisher": "Canonical", "offer": "ubuntu-24_04-lts",
                                                  "sku": "server", "version": "latest"}},
            "osProfile": {"computerNamePrefix": "ss", "adminUsername": "azureuser", "adminPassword": "N0t-real-Pw!"},
            "networkProfile": {"networkInterfaceConfigurations": [{"name": "nic", "properties": {
                "primary": True, "ipConfigurations": [{"name": "ip", "properties": {}}]}}]}}}}).result()
    assert (vmss.provisioning_state, vmss.sku.capacity) == ("Succeeded", 3)
    assert vmss.virtual_machine_profile.os_profile.admin_password is None
    assert [vm.instance_id for vm in compute.virtual_machine_scale_set_vms.list("rg", "ss")] == ["0", "1", "2"]
    compute.virtual_machine_scale_sets.begin_power_off("rg", "ss", vm_instance_i_ds={"instanceIds": ["1"]}).result()
    view = compute.virtual_machine_scale_set_vms.get_instance_view("rg", "ss", "1")
    assert [s.code for s in view.statuses][-1] == "PowerState/stopped"
    compute.virtual_machine_scale_sets.begin_delete_instances("rg", "ss", {"instanceIds": ["2"]}).result()
    assert compute.virtual_machine_scale_sets.get("rg", "ss").sku.capacity == 2
    compute.virtual_machine_scale_sets.begin_delete("rg", "ss").result()
    assert list(compute.virtual_machine_scale_sets.list("rg")) == []


def test_converting_a_vm_with_managed_disks_is_refused_as_azure_refuses_it(door):
    nic_id = network_for_vm(door)
    compute = door.compute_client()
    compute.virtual_machines.begin_create_or_update("rg", "vm1", linux_vm(nic_id)).result()
    with pytest.raises(HttpResponseError) as err:
        compute.virtual_machines.begin_convert_to_managed_disks("rg", "vm1").result()
    assert (err.value.status_code, err.value.error.code) == (409, "OperationNotAllowed")
    assert err.value.error.message == "VM 'vm1' is already using managed disks."


def test_a_resource_group_keeps_what_manages_it(door):
    groups = door.resource_client().resource_groups
    made = groups.create_or_update("managed", {"location": "eastus", "managedBy": "/subscriptions/x/app"})
    assert made.managed_by == "/subscriptions/x/app"
    groups.create_or_update("managed", {"location": "eastus", "tags": {"a": "b"}})
    assert groups.get("managed").managed_by == "/subscriptions/x/app"
    assert [g.managed_by for g in groups.list() if g.name == "managed"] == ["/subscriptions/x/app"]


def test_resource_links_live_at_a_scope_and_list_at_it_or_above(group):
    links = group.rg_path("rg", "/providers/Microsoft.Resources/links")
    target = group.rg_path("rg", "/providers/Microsoft.Compute/availabilitySets/avset")
    made = group.request("PUT", f"{links}/myLink", {"properties": {"targetId": target, "notes": "n"}},
                         api_version="2016-09-01")
    assert made.status_code == 201
    assert made.json()["properties"] == {"sourceId": group.rg_path("rg") + "/", "targetId": target + "/", "notes": "n"}
    everywhere = f"/subscriptions/{group.subscription_id}/providers/Microsoft.Resources/links"
    assert [x["name"] for x in group.request("GET", everywhere, api_version="2016-09-01").json()["value"]] == ["myLink"]
    at_sub_only = group.request("GET", everywhere + "?$filter=atScope()", api_version="2016-09-01").json()
    assert at_sub_only["value"] == []
    bad = group.request("PUT", f"{links}/bad", {"properties": {"notes": "no target"}}, api_version="2016-09-01")
    assert (bad.status_code, bad.json()["error"]["code"]) == (400, "InvalidRequestContent")
    assert group.request("DELETE", f"{links}/myLink", api_version="2016-09-01").status_code == 200
    gone = group.request("GET", f"{links}/myLink", api_version="2016-09-01")
    assert (gone.status_code, gone.json()["error"]["code"]) == (404, "ResourceNotFound")


def test_moving_resources_rehomes_them_and_the_references_to_them(door):
    groups, network = door.resource_client().resource_groups, door.network_client()
    for name in ("src", "dst"):
        groups.create_or_update(name, {"location": "eastus"})
    guard = network.network_security_groups.begin_create_or_update("src", "guard", {"location": "eastus"}).result()
    net = vnet()
    net["properties"]["subnets"][0]["properties"]["networkSecurityGroup"] = {"id": guard.id}
    made = network.virtual_networks.begin_create_or_update("src", "net", net).result()
    move = {"resources": [guard.id, made.id], "targetResourceGroup": door.rg_path("dst")}
    resources = door.resource_client().resources
    resources.begin_validate_move_resources("src", move).result()
    resources.begin_move_resources("src", move).result()
    moved = network.virtual_networks.get("dst", "net")
    assert moved.id == door.rg_path("dst", "/providers/Microsoft.Network/virtualNetworks/net")
    assert moved.subnets[0].id.startswith(moved.id + "/subnets/")
    assert moved.subnets[0].network_security_group.id == door.rg_path(
        "dst", "/providers/Microsoft.Network/networkSecurityGroups/guard")
    with pytest.raises(HttpResponseError) as err:
        network.network_security_groups.get("src", "guard")
    assert err.value.status_code == 404
    nowhere = {"resources": [moved.id], "targetResourceGroup": door.rg_path("no-such-group")}
    with pytest.raises(HttpResponseError) as err:
        resources.begin_validate_move_resources("dst", nowhere).result()
    assert err.value.error.code == "ResourceGroupNotFound"


def test_a_provider_lists_its_resource_types_and_can_be_unregistered(door):
    providers = door.resource_client().providers
    types = {t.resource_type for t in door.resource_client().provider_resource_types.list("Microsoft.Compute").value}
    assert {"virtualMachines", "disks", "availabilitySets"} <= types
    compute = providers.get("Microsoft.Compute")
    vms = next(t for t in compute.resource_types if t.resource_type == "virtualMachines")
    assert vms.api_versions and vms.default_api_version == vms.api_versions[0]  # what `az resource` picks from
    assert providers.unregister("Microsoft.Compute").registration_state == "Unregistering"


def test_a_provider_shows_azures_registration_metadata(door):
    compute = door.resource_client().providers.get("Microsoft.Compute")
    vms = next(t for t in compute.resource_types if t.resource_type == "virtualMachines")
    assert {p.profile_version for p in vms.api_profiles} >= {"2018-03-01-hybrid"}  # Azure Stack's pins
    assert any(m.location == "East US" and set(m.zones) == {"1", "2", "3"} for m in vms.zone_mappings)
    assert all(m.location != "West US" for m in vms.zone_mappings)  # a region without zones has none
    raw = door.request("GET", f"/subscriptions/{door.subscription_id}/providers/Microsoft.Network",
                       api_version="2022-09-01").json()
    assert raw["authorizations"] and all("applicationId" in a for a in raw["authorizations"])
    nsgs = next(t for t in raw["resourceTypes"] if t["resourceType"] == "networkSecurityGroups")
    assert "zoneMappings" not in nsgs  # not a zonal type


def test_a_group_reads_deleting_while_it_goes_and_its_location_poll_finds_it_gone(door):
    door.resource_client().resource_groups.create_or_update("doomed", {"location": "eastus"})
    for name in ("n1", "n2", "n3"):
        door.request("PUT", door.rg_path("doomed", f"/providers/Microsoft.Network/networkSecurityGroups/{name}"),
                     {"location": "eastus"}, api_version="2023-09-01")
    started = door.request("DELETE", door.rg_path("doomed"), api_version="2022-09-01")
    assert started.status_code == 202
    shown = door.request("GET", door.rg_path("doomed"), api_version="2022-09-01")
    assert (shown.status_code, shown.json()["properties"]["provisioningState"]) == (200, "Deleting")
    left = door.request("GET", door.rg_path("doomed", "/resources"), api_version="2022-09-01").json()["value"]
    assert 0 < len(left) < 3  # it loses a resource per request, as ARM takes its time
    done = door.request("GET", started.headers["Location"].split(door.base_url, 1)[1], api_version=None)
    assert done.status_code == 200  # the client's poll is its wait: the group is gone now
    gone = door.request("GET", door.rg_path("doomed"), api_version="2022-09-01")
    assert (gone.status_code, gone.json()["error"]["code"]) == (404, "ResourceGroupNotFound")


@pytest.mark.parametrize("kind, body, api_version", [
    ("Microsoft.Compute/availabilitySets", {"location": "eastus"}, "2024-07-01"),
    ("Microsoft.Compute/hostGroups", {"location": "eastus", "properties": {"platformFaultDomainCount": 1}},
     "2024-07-01"),
    ("Microsoft.Storage/storageAccounts", {"location": "eastus", "sku": {"name": "Standard_LRS"},
                                           "kind": "StorageV2"}, "2023-01-01"),
])
def test_a_kind_lists_in_its_group_or_the_whole_subscription_and_a_missing_one_is_404(group, kind, body,
                                                                                       api_version):
    group.resource_client().resource_groups.create_or_update("other", {"location": "eastus"})
    for rg in ("rg", "other"):
        made = group.request("PUT", group.rg_path(rg, f"/providers/{kind}/made{rg}"), body, api_version=api_version)
        assert made.status_code in (200, 201, 202), made.text
    in_group = group.request("GET", group.rg_path("rg", f"/providers/{kind}"), api_version=api_version).json()
    assert [x["name"] for x in in_group["value"]] == ["maderg"]
    everywhere = group.request("GET", f"/subscriptions/{group.subscription_id}/providers/{kind}",
                               api_version=api_version).json()
    assert sorted(x["name"] for x in everywhere["value"]) == ["madeother", "maderg"]
    missing = group.request("GET", group.rg_path("rg", f"/providers/{kind}/nope"), api_version=api_version)
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "ResourceNotFound")
    assert missing.json()["error"]["message"].startswith(f"The Resource '{kind}/nope' under resource group 'rg'")
    no_group = group.request("GET", group.rg_path("absent", f"/providers/{kind}"), api_version=api_version)
    assert (no_group.status_code, no_group.json()["error"]["code"]) == (404, "ResourceGroupNotFound")
