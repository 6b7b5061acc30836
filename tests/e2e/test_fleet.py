"""Fleets on the local cloud: up N nodes, status per node, DDP runs with torchrun across
nodes (each node its own local VM host, rendezvous over 127.0.0.1), the bad cases, down.

Tiny workloads: the torch import in torchrun and in each worker dominates a run's time.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from dsvmctl import Cloud, EnvironmentSpec
from dsvmctl.cli import cli
from dsvmctl.cloud import distributed
from dsvmctl.cloud.fleet import Fleet
from dsvmctl.cloud.results import DistributedRunRecord
from dsvmctl.errors import UsageError

TINY = {
    "transformer": ["--d-model", "32", "--n-layers", "1", "--n-heads", "2", "--seq-len", "32",
                    "--batch-size", "4", "--steps", "3", "--warmup", "1"],
    "cnn": ["--width", "8", "--blocks", "1", "--image-size", "16", "--batch-size", "8", "--steps", "3",
            "--warmup", "1"],
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tagged_pids(run_id: str) -> list[int]:
    """Processes on this machine (every local node) carrying the run's tag."""
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            entries = environ.read_bytes().split(b"\0")
        except OSError:
            continue
        if any(e.startswith(f"{distributed.TAG}={run_id}:".encode()) for e in entries):
            found.append(int(environ.parent.name))
    return found


def _is_worker(pid: int) -> bool:
    """A training process torchrun started (not torchrun itself, whose argv also names train.py)."""
    try:
        env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return False
    return any(e.startswith(b"LOCAL_RANK=") for e in env)


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


pytestmark = pytest.mark.usefixtures("remote_env")


@pytest.fixture(scope="module")
def fleet_home(tmp_path_factory):
    return tmp_path_factory.mktemp("fleet-home")


@pytest.fixture(scope="module")
def fleet_cloud(fleet_home):
    with Cloud.local(fleet_home) as cloud:
        yield cloud


@pytest.fixture(scope="module")
def fleet(fleet_cloud):
    """One 2-node fleet shared by the run tests (made once: each `up` starts two VM hosts)."""
    made = fleet_cloud.up(EnvironmentSpec.from_dict({"name": "lab", "nodes": 2}))
    assert isinstance(made, Fleet)
    return made


# -- up, status, down (CLI) ------------------------------------------------------------------------------


def test_up_nodes_2_makes_one_deployment_of_two_named_nodes_and_down_leaves_nothing(tmp_path):
    result = invoke("up", "duo", "--nodes", "2", "-o", "json")
    assert result.exit_code == 0, result.output
    state = json.loads(result.output)
    assert state["fleet"] is True and state["node_count"] == 2
    nodes = state["nodes"]
    assert [n["name"] for n in nodes] == ["duo-0", "duo-1"]
    assert all(n["power_state"] == "running" and n["size"] == "Standard_D4ds_v5" for n in nodes)
    assert len({n["os_disk_id"] for n in nodes}) == 2 and len({n["private_ip"] for n in nodes}) == 2
    assert len({n["public_ip"] for n in nodes}) == 2
    assert all(n["accelerated_networking"] for n in nodes)  # D4ds_v5 and its NC partner both have it
    assert len({n["proximity_placement_group"] for n in nodes}) == 1 and nodes[0]["proximity_placement_group"]

    one = json.loads(invoke("status", "duo", "--node", "1", "-o", "json").output)
    assert [n["name"] for n in one["nodes"]] == ["duo-1"]
    bad = invoke("status", "duo", "--node", "2")
    assert bad.exit_code != 0 and "has 2 nodes" in bad.output

    with Cloud.local() as cloud:
        owned = cloud.machine("duo").owned_resources()
        kinds = sorted(r.type for r in owned)
        assert kinds.count("Microsoft.Network/networkSecurityGroups") == 1
        assert kinds.count("Microsoft.Network/virtualNetworks") == 1
        assert kinds.count("Microsoft.Compute/proximityPlacementGroups") == 1
        assert kinds.count("Microsoft.Compute/virtualMachines") == 2
        deployments = list(cloud.backend.deployments.deployments.list_by_resource_group("dsvmctl-duo"))
        assert [d.name for d in deployments] == ["dsvmctl-duo"]
        nsg = cloud.backend.network.network_security_groups.get("dsvmctl-duo", "duo-nsg")
        inbound = [r for r in nsg.security_rules if r.direction == "Inbound"]
        assert [(r.destination_port_range, r.source_address_prefix) for r in inbound] == [("22", "127.0.0.1/32")]

    down = invoke("down", "duo", "--yes", "-o", "json")
    assert down.exit_code == 0, down.output
    assert json.loads(down.output)["resource_group_deleted"] is True
    with Cloud.local() as cloud:
        assert cloud.store.names() == []
        assert not any(cloud.store.dir(n).exists() for n in ("duo", "duo-0", "duo-1"))
        assert not cloud.backend.resources.resource_groups.check_existence("dsvmctl-duo")


def test_quota_short_for_n_nodes_is_refused_before_any_write():
    with Cloud.local() as cloud:
        cloud.backend.emulator.set_quota("eastus", "standardDDSv5Family", 12)  # 3 x 4 vCPUs
        before = len(cloud.backend.emulator.request_log)
        with pytest.raises(UsageError) as err:
            cloud.up(EnvironmentSpec.from_dict({"name": "quad", "nodes": 4}))
        text = str(err.value) + str(getattr(err.value, "fix", ""))
        assert "4 x Standard_D4ds_v5" in text and "needs 16 vCPUs" in text and "12" in text
        writes = [r for r in cloud.backend.emulator.request_log[before:] if r[0] in ("PUT", "POST", "PATCH", "DELETE")]
        assert writes == []
        assert cloud.store.load("quad") is None


def test_up_grows_a_fleet_and_shrinks_it_from_the_top_only_when_confirmed():
    with Cloud.local() as cloud:
        made = cloud.up(EnvironmentSpec.from_dict({"name": "grow", "nodes": 2}))
        disks = {n.name: n.os_disk_id for n in made.status().nodes}
        grown = cloud.up(EnvironmentSpec.from_dict({"name": "grow", "nodes": 3}))
        state = grown.status()
        assert [n.name for n in state.nodes] == ["grow-0", "grow-1", "grow-2"]
        assert {n.name: n.os_disk_id for n in state.nodes[:2]} == disks  # the first two untouched
        with pytest.raises(UsageError, match="would delete grow-2"):
            cloud.up(EnvironmentSpec.from_dict({"name": "grow", "nodes": 2}))
        assert cloud.machine("grow").size == 3
        shrunk = cloud.up(EnvironmentSpec.from_dict({"name": "grow", "nodes": 2}), remove_nodes=True)
        assert [n.name for n in shrunk.status().nodes] == ["grow-0", "grow-1"]
        names = {r.name for r in shrunk.owned_resources()}
        assert not any(n.startswith("grow-2") or n.endswith("grow-2") for n in names)
        again = cloud.up(EnvironmentSpec.from_dict({"name": "grow"}))  # no node count given: keeps 2
        assert again.size == 2
        shrunk.down()
        assert cloud.store.names() == []


def test_single_vm_is_still_named_without_suffix_and_cannot_become_a_fleet_in_place():
    with Cloud.local() as cloud:
        single = cloud.up(EnvironmentSpec.from_dict({"name": "solo"}))
        assert single.status().name == "solo" and single.vm().name == "solo"
        assert not any(r.name.startswith("solo-0") for r in single.owned_resources())
        with pytest.raises(UsageError, match="single VM"):
            cloud.up(EnvironmentSpec.from_dict({"name": "solo", "nodes": 2}))
        single.down()


# -- distributed runs -------------------------------------------------------------------------------------


# A fleet run's `-o json` document and fleet-runs.json entry: users' scripts read these keys.
FLEET_RUN_KEYS = {"run_id", "fleet", "cloud", "workload", "device_requested", "args", "nodes", "procs_per_node",
                  "world_size", "rendezvous", "max_restarts", "threads_per_process", "node_names", "sizes",
                  "started_at", "detached", "exit_code", "node_exit_codes", "failed_node"}


@pytest.mark.slow
@pytest.mark.parametrize("model", ["transformer", "cnn"])
def test_two_node_ddp_run_ends_with_equal_parameter_checksums_on_both_ranks(fleet, model):
    lines: list[bytes] = []
    result = distributed.run(fleet, model, device="cpu", args=TINY[model], port=free_port(), stdout=lines.append)
    assert result.exit_code == 0, b"".join(lines).decode()[-3000:]
    assert result.node_exit_codes == [0, 0] and result.world_size == 2
    assert set(result.to_json()) == FLEET_RUN_KEYS | {"log", "finished_at", "stopped"}
    assert result.to_json()["stopped"] is None and distributed.find_run(fleet, result.run_id) == result
    text = b"".join(lines).decode()
    assert "[node 0] " in text and "[node 1] " in text  # both nodes' output, prefixed
    assert all(line.startswith("[node ") for line in text.splitlines())
    collected = distributed.collect(fleet, result.run_id)
    metrics = json.loads(Path(collected.metrics).read_text())
    assert (metrics["world_size"], metrics["nodes"]) == (2, 2)
    assert metrics["param_checksums"][0] == metrics["param_checksums"][1]
    assert {r["node"] for r in metrics["ranks"]} == {0, 1}
    assert metrics["distributed_backend"] == "gloo"
    assert tagged_pids(result.run_id) == []


@pytest.mark.slow
def test_a_node_killed_mid_run_is_named_and_every_other_node_is_stopped(fleet):
    port = free_port()
    result: list[DistributedRunRecord] = []
    args = [*TINY["transformer"][:-4], "--steps", "2000", "--warmup", "1"]

    def go():
        result.append(distributed.run(fleet, "transformer", device="cpu", args=args, port=port,
                                      stdout=lambda _: None))

    runner = threading.Thread(target=go)
    runner.start()
    victim = None
    deadline = time.monotonic() + 120
    while victim is None and time.monotonic() < deadline:
        time.sleep(0.5)
        for environ in Path("/proc").glob("[0-9]*/environ"):
            try:
                env = environ.read_bytes().split(b"\0")
                cmd = (environ.parent / "cmdline").read_bytes()
            except OSError:
                continue
            tag = next((e for e in env if e.startswith(f"{distributed.TAG}=".encode())), None)
            if tag and tag.endswith(b":1") and b"torch.distributed.run" in cmd:
                run_id = tag.split(b"=", 1)[1].rsplit(b":", 1)[0].decode()
                workers = [p for p in tagged_pids(run_id) if _is_worker(p)]
                if len(workers) >= 2:  # both nodes' workers are up: the run is under way
                    victim = int(environ.parent.name)
                    break
    assert victim is not None, "the run never started"
    time.sleep(3)  # into training (the workers import torch, join the process group, step)
    os.kill(victim, signal.SIGKILL)
    runner.join(timeout=120)
    assert not runner.is_alive()
    run, = result
    assert run.failed_node == 1 and run.exit_code == 137
    assert "node 1 (lab-1)" in run.error
    assert run.node_exit_codes[0] != 0  # node 0 was stopped, not left running
    assert tagged_pids(run.run_id) == []  # no orphans on any node


def test_a_taken_rendezvous_port_is_a_clear_error(fleet):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(UsageError, match=f"rendezvous port {port} is taken on lab-0"):
            distributed.run(fleet, "cnn", device="cpu", args=TINY["cnn"], port=port)


def test_more_nodes_than_the_fleet_has_is_refused_with_the_fleet_size(fleet):
    with pytest.raises(UsageError, match="fleet lab has 2 nodes"):
        distributed.run(fleet, "cnn", nodes=3, device="cpu")


def test_torchrun_gets_the_rendezvous_and_max_restarts():
    argv = distributed.torchrun_argv("py", nnodes=2, nproc=1, endpoint="10.0.0.4:29400", run_id="r1",
                                     max_restarts=3, local_addr=None, train_args=["train.py"], is_host=False)
    text = " ".join(argv)
    assert "-m torch.distributed.run --nnodes 2 --nproc-per-node 1 --rdzv-backend c10d" in text
    assert "--rdzv-endpoint 10.0.0.4:29400" in text and "--max-restarts 3" in text
    assert "--rdzv-conf is_host=0" in text and argv[-1] == "train.py"
    command = distributed.node_command(argv, "r1", 1, threads=1)
    assert "DSVMCTL_RUN_NODE=r1:1" in command and "OMP_NUM_THREADS=1" in command
    assert "node-1.exit_code" in command


# -- resize -------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_fleet_resize_moves_every_node_keeping_each_os_disk_and_its_files():
    with Cloud.local() as cloud:
        from dsvmctl.cloud.fleet import resize_fleet

        made = cloud.up(EnvironmentSpec.from_dict({"name": "rs", "nodes": 2}))
        before = {n.name: n.os_disk_id for n in made.status().nodes}
        result = resize_fleet(made, "Standard_NC4as_T4_v3")
        assert result["verified"] is True and result["failed"] == []
        assert [r["name"] for r in result["nodes"]] == ["rs-0", "rs-1"]
        for node in result["nodes"]:
            assert node["checks"]["os_disk_kept"] is True and node["checks"]["marker"] is True
            assert node["os_disk_id_after"] == before[node["name"]]
        state = made.status()
        assert [n.size for n in state.nodes] == ["Standard_NC4as_T4_v3"] * 2
        assert {n.name: n.os_disk_id for n in state.nodes} == before
        assert cloud.store.load("rs").size == "Standard_NC4as_T4_v3"
        # Each node kept its own journal.
        assert all((cloud.store.dir(n) / "resize-journal.json").is_file() for n in ("rs-0", "rs-1"))
        made.down()


def test_fleet_resize_is_refused_for_every_node_before_any_change_when_quota_is_short():
    with Cloud.local() as cloud:
        from dsvmctl.cloud.fleet import FleetResizeRefused, resize_fleet

        made = cloud.up(EnvironmentSpec.from_dict({"name": "rq", "nodes": 2}))
        cloud.backend.emulator.set_quota("eastus", "standardNCASv3_T4Family", 4)  # room for one node only
        before = len(cloud.backend.emulator.request_log)
        with pytest.raises(FleetResizeRefused, match="2 x Standard_NC4as_T4_v3 need 8 vCPUs"):
            resize_fleet(made, "Standard_NC4as_T4_v3")
        writes = [r for r in cloud.backend.emulator.request_log[before:] if r[0] in ("PUT", "POST", "PATCH", "DELETE")]
        assert writes == []
        assert [n.size for n in made.status().nodes] == ["Standard_D4ds_v5"] * 2
        made.down()


def test_fleet_resize_under_o_json_prints_one_document_for_a_plan_and_for_a_refusal():
    with Cloud.local() as cloud:
        cloud.up(EnvironmentSpec.from_dict({"name": "rj", "nodes": 2}))
    planned = invoke("resize", "rj", "--size", "Standard_NC4as_T4_v3", "--dry-run", "-o", "json")
    assert planned.exit_code == 0
    plan = json.loads(planned.stdout)
    assert plan["dry_run"] is True and [p["kind"] for p in plan["plans"]] == ["deallocate_resize_start"] * 2
    refused = invoke("resize", "rj", "--size", "Standard_D4s_v5", "-o", "json")  # no temp disk: never
    assert refused.exit_code == 2
    blockers = json.loads(refused.stdout)["blockers"]
    assert [b["name"] for b in blockers] == ["rj-0", "rj-1"]
    assert {b["code"] for b in blockers} == {"temp-disk-pairing"}


# -- scaling bench ------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_scaling_bench_1_2_stores_both_runs_and_reports_efficiency_and_fleet_cost(fleet, fleet_cloud, fleet_home):
    from dsvmctl.bench.orchestrate import results_store
    from dsvmctl.bench.scaling import scaling_bench, write_report

    store = results_store(fleet_home)
    result = scaling_bench(fleet, node_counts=[1, 2], workload="cnn", device="cpu", args=TINY["cnn"],
                           port=free_port(), store=store, progress=lambda _: None, stream=lambda _: None)
    rows = result["scaling"]["rows"]
    assert [r["nodes"] for r in rows] == [1, 2] and all(r["status"] == "ok" for r in rows), rows
    assert [r["world_size"] for r in rows] == [1, 2]
    one, two = rows
    assert one["efficiency"] == pytest.approx(1.0)
    assert two["efficiency"] == pytest.approx(two["samples_per_s"] / (2 * one["samples_per_s"]))
    assert two["fleet_price_per_hour"] == pytest.approx(2 * one["fleet_price_per_hour"])
    assert two["cost_per_1000_steps"] == pytest.approx(
        1000 * two["step_time_ms"] / 1000 / 3600 * two["fleet_price_per_hour"])
    assert any("CPU-only" in n for n in result["scaling"]["notes"])
    assert any("local cloud" in n for n in result["scaling"]["notes"])
    stored = store.runs_for_comparison(result["comparison_id"])
    assert {r.run_id for r in stored} == {r["run_id"] for r in rows}
    assert {r.metrics["world_size"] for r in stored} == {1, 2}
    paths = write_report(fleet_home, result)
    assert "| 2 | 2 | cpu |" in Path(paths["markdown"]).read_text()


def test_scaling_bench_on_a_single_vm_is_refused():
    with Cloud.local() as cloud:
        cloud.up(EnvironmentSpec.from_dict({"name": "alone"}))
    result = invoke("bench", "alone", "--nodes", "1,2")
    assert result.exit_code == 2 and "needs a fleet" in result.output
    assert invoke("bench", "alone", "--nodes", "1,x").exit_code == 2


@pytest.mark.slow
def test_a_detached_fleet_run_is_followed_and_collected_across_nodes(fleet):
    started = distributed.run(fleet, "cnn", device="cpu", args=TINY["cnn"], port=free_port(), detach=True)
    assert started.detached is True and len(started.pids) == 2 and started.exit_code is None
    assert set(started.to_json()) == FLEET_RUN_KEYS | {"pids"}
    out: list[bytes] = []
    followed = distributed.logs(fleet, started.run_id, follow=True, stdout=out.append)
    text = b"".join(out).decode()
    assert followed.node_exit_codes == [0, 0] and followed.exit_code == 0, text[-2000:]
    assert "[node 0] " in text and "[node 1] " in text
    collected = distributed.collect(fleet, started.run_id)
    metrics = json.loads(Path(collected.metrics).read_text())
    assert metrics["world_size"] == 2 and metrics["param_checksums_equal"] is True
    assert [n.node for n in collected.nodes_collected] == [0, 1]
    assert set(collected.to_json()) == FLEET_RUN_KEYS | {"pids", "dir", "metrics", "nodes_collected"}
    assert json.loads((Path(collected.dir) / "run.json").read_text()) == collected.run_info()
    assert distributed.find_run(fleet, started.run_id).collected_to == collected.dir
    assert tagged_pids(started.run_id) == []
