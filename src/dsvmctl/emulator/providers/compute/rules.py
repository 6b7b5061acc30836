"""The rules a GPU<->CPU resize must respect, with Azure's codes and messages (see AZURE-FACTS):
the temp-disk rule, Hyper-V generation, the hardware cluster of a running VM, accelerated
networking, SKU restrictions and vCPU quota per family; and the defaults a new subscription has.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ....catalog.sizes import Size, lookup, offered_in
from ...routing import Call
from ...wire import ArmError

if TYPE_CHECKING:
    from .provider import ComputeProvider

VM_TYPE = "Microsoft.Compute/virtualMachines"

# Default vCPU quota per family (lower-case keys), as a new pay-as-you-go subscription might have:
# generous for CPU sizes, some T4 cores, no A100/H100 cores until a quota request.
DEFAULT_QUOTA = {
    "cores": 100,
    "standardncasv3_t4family": 24,
    "standardncadsa100v4family": 0,
    "standardncadsh100v5family": 0,
    "*": 64,
}
# The power state a scale-set instance is in once a power action ends (Uniform and Flexible alike).
POWER_AFTER = {"start": "running", "powerOff": "stopped", "restart": "running", "deallocate": "deallocated"}
# Sizes restricted for this subscription, per location: the emulator's "SKU not available".
DEFAULT_RESTRICTIONS = {("eastus", "standard_nc40ads_h100_v5"): "NotAvailableForSubscription"}


def check_generation(size: Size, generation: str) -> None:
    if generation not in size.generations:
        raise ArmError(400, "BadRequest",
                       f"The selected VM size '{size.name}' cannot boot Hypervisor Generation '{generation[-1]}'. If "
                       "this was a Create operation please check that the Hypervisor Generation of the Image matches "
                       "the Hypervisor Generation of the selected VM Size. If this was an Update operation please "
                       f"select a Hypervisor Generation '{generation[-1]}' VM Size. For more information, see "
                       "https://aka.ms/azuregen2vm")


def check_security_profile(props: dict[str, Any], generation: str) -> None:
    """Trusted launch (UEFI secure boot, vTPM) boots Gen2 images only."""
    security = props.get("securityProfile") or {}
    trusted = str(security.get("securityType") or "").lower() in ("trustedlaunch", "confidentialvm")
    if (trusted or security.get("uefiSettings")) and generation == "V1":
        raise ArmError(400, "BadRequest", "UEFI settings are not supported for VMs and VM Scale Sets using "
                       "Generation 1 Image.")


def check_accelerated_networking(nic: dict[str, Any], size: Size, vm_name: str, index: int) -> None:
    if nic["properties"].get("enableAcceleratedNetworking") and not size.accelerated_networking:
        raise ArmError(400, "VMSizeIsNotPermittedToEnableAcceleratedNetworking",
                       f"Virtual Machine size {size.name} is not in the allowed list of VM sizes for accelerated "
                       f"networking to be enabled on the VM at index {index} for VM {vm_name}. Allowed sizes: "
                       f"{', '.join(s.name for s in offered_in(nic['location']) if s.accelerated_networking)}.")


def check_resize(call: Call, compute: ComputeProvider, vm: dict[str, Any], target_name: str) -> Size:
    """Every rule Azure applies to a size change, in the order Azure reports them."""
    em = call.em
    name = vm["name"]
    current = lookup(vm["properties"]["hardwareProfile"]["vmSize"])
    target = compute.resolve_size(vm["location"], target_name)
    meta = em.meta_of(vm["id"])
    if current is not None and current.has_temp_disk != target.has_temp_disk:
        raise ArmError(409, "OperationNotAllowed",
                       f"Unable to resize the VM '{name}' since changing from resource disk to non-resource disk VM "
                       "size and vice-versa is not allowed. Please refer to https://aka.ms/AAah4sr for more details.",
                       target="vmSize")
    check_generation(target, meta.get("generation", "V1"))
    for index, ref in enumerate(vm["properties"]["networkProfile"]["networkInterfaces"]):
        nic = em.get(ref["id"])
        if nic:
            check_accelerated_networking(nic, target, name, index)
    if meta.get("power") != "deallocated":
        if target.cluster != meta.get("cluster"):
            available = [s.name for s in compute.offered(vm["location"])
                         if s.cluster == meta.get("cluster") and not compute.restriction(vm["location"], s)]
            raise ArmError(409, "OperationNotAllowed",
                           f"Unable to resize the VM '{name}' because the requested size {target.name} is not "
                           "available in the current hardware cluster. The available sizes are: "
                           f"{','.join(available)}. Read more on VM resizing strategy at "
                           "https://aka.ms/azure-resizevm.", target="vmSize")
        check_quota(em, vm["location"], target, exclude_vm=vm["id"])
    return target


def vcpu_usage(em, location: str, exclude_vm: str | None = None) -> dict[str, int]:
    """vCPUs in use per family (lower-case) and in total ('cores'); deallocated VMs use none."""
    usage: dict[str, int] = {}
    for vm in em.find(VM_TYPE):
        if vm["location"] != location.lower() or (exclude_vm and vm["id"].lower() == exclude_vm.lower()):
            continue
        if em.meta_of(vm["id"]).get("power") in ("deallocated", "deallocating"):
            continue
        size = lookup(vm["properties"]["hardwareProfile"]["vmSize"])
        if size is None:
            continue
        usage[size.family.lower()] = usage.get(size.family.lower(), 0) + size.vcpus
        usage["cores"] = usage.get("cores", 0) + size.vcpus
    return usage


def check_quota(em, location: str, size: Size | None, exclude_vm: str | None) -> None:
    if size is None:
        return
    usage = vcpu_usage(em, location, exclude_vm)
    for family, label in ((size.family, size.family), ("cores", "Total Regional")):
        limit = em.quota_limit(location, family)
        current = usage.get(family.lower(), 0)
        if current + size.vcpus > limit:
            raise ArmError(
                409, "OperationNotAllowed",
                f"Operation could not be completed as it results in exceeding approved {label} Cores quota. "
                f"Additional details - Deployment Model: Resource Manager, Location: {location.lower()}, "
                f"Current Limit: {limit}, Current Usage: {current}, Additional Required: {size.vcpus}, "
                f"(Minimum) New Limit Required: {current + size.vcpus}. Submit a request for Quota increase at "
                "https://aka.ms/ProdportalCRP/#blade/Microsoft_Azure_Capacity/UsageAndQuota.ReactView/Parameters/"
                f"%7B%22subscriptionId%22:%22{em.active_subscription}%22,%22command%22:%22openQuotaApprovalBlade%22,"
                f"%22quotas%22:[%7B%22location%22:%22{location.lower()}%22,%22providerId%22:%22Microsoft.Compute%22,"
                f"%22resourceName%22:%22{family}%22,%22quotaRequest%22:%7B%22properties%22:%7B%22limit%22:"
                f"{current + size.vcpus},%22unit%22:%22Count%22,%22name%22:%7B%22value%22:%22{family}%22%7D%7D%7D%7D]"
                "%7D by specifying parameters listed in the 'Details' section for deployment to succeed. Please "
                "read more about quota limits at https://docs.microsoft.com/en-us/azure/azure-supportability/"
                "per-vm-quota-requests",
            )
