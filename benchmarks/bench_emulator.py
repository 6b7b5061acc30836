"""Request count and wall time of the emulator issue's acceptance flow, through each door.

    .venv/bin/python benchmarks/bench_emulator.py [--repeat 5]

The flow (tests/emulator/test_sdk_flow.py::run_acceptance_flow) uses unmodified azure-mgmt-*
clients: group, vnet+subnet, NSG, static IP, NIC, DSVM VM, instance view, sizes, a refused
resize, deallocate/resize/start, refused Gen1-on-A100, 404, bad name, group delete.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    import pytest  # the flow uses pytest.raises for the refusals it expects

    from tests.emulator.conftest import SDK_KWARGS, Door
    from tests.emulator.test_sdk_flow import run_acceptance_flow

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    def in_process():
        from dsvmctl.testing import mock_azure

        with mock_azure() as azure:
            door = Door("in-process", azure.emulator, azure.credential, "https://management.azure.com", True,
                        dict(SDK_KWARGS))
            return _timed(door, run_acceptance_flow)

    def https():
        from azure.identity import ClientSecretCredential

        from dsvmctl.emulator.server import EmulatorServer

        with tempfile.TemporaryDirectory() as state, EmulatorServer(state) as server:
            ep = server.endpoint()
            credential = ClientSecretCredential(ep["tenant_id"], ep["client_id"], ep["client_secret"],
                                                authority=ep["authority_host"], connection_verify=ep["ca_bundle"],
                                                disable_instance_discovery=True)
            kwargs = dict(SDK_KWARGS, base_url=ep["arm_endpoint"], connection_verify=ep["ca_bundle"],
                          credential_scopes=[ep["credential_scope"]])
            door = Door("https", server.emulator, credential, ep["arm_endpoint"], ep["ca_bundle"], kwargs)
            return _timed(door, run_acceptance_flow)

    print(f"{'door':<12}{'requests':>9}{'median s':>10}{'min s':>8}")
    for name, run in (("in-process", in_process), ("https", https)):
        results = [run() for _ in range(args.repeat)]
        seconds = [s for s, _ in results]
        print(f"{name:<12}{results[0][1]:>9}{statistics.median(seconds):>10.3f}{min(seconds):>8.3f}")
    _ = pytest


def _timed(door, flow) -> tuple[float, int]:
    started = time.perf_counter()
    flow(door)
    return time.perf_counter() - started, len(door.emulator.request_log)


if __name__ == "__main__":
    main()
