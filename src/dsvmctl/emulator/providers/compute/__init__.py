"""Microsoft.Compute: virtual machines, managed disks, sizes, SKUs, images, usages, scale sets,
dedicated hosts and the operations around them.

provider.py (VMs, disks, the catalog), ops.py (maintenance actions, snapshots, images,
availability sets, placement groups), vmss.py (scale sets), hosts.py (dedicated hosts);
rules.py holds the rules Azure applies (resize, generation, quota), views.py the bodies it
answers with, finalizers.py what an operation's end does.
"""

from __future__ import annotations

from . import finalizers, hosts, ops, vmss
from .provider import ComputeProvider
from .rules import DEFAULT_QUOTA

__all__ = ["DEFAULT_QUOTA", "PROVIDER", "ComputeProvider", "register"]


def register(em) -> ComputeProvider:
    for module in (finalizers, ops, vmss, hosts):
        module.register_finalizers(em)
    return ComputeProvider(em)


PROVIDER = register
