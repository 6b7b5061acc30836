"""Library calls the CLI formats: Machine.ssh_command, Machine.resume, resize(abandon=...),
and the quickstart's typed result."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from dsvmctl.bench.quickstart import QuickstartResult, quickstart
from dsvmctl.bench.compare import compare_runs
from dsvmctl.bench.store import RunRecord
from dsvmctl.catalog.sizes import can_resize_between
from dsvmctl.cloud.power import PowerState
from dsvmctl.cloud.resize import ResizeIncomplete, journal_path
from dsvmctl.errors import UsageError

GPU = "Standard_NC4as_T4_v3"


def test_ssh_command_pins_the_host_key_by_alias_in_dsvmctls_known_hosts(lab):
    argv = lab.ssh_command()
    options = dict(argv[i + 1].split("=", 1) for i, word in enumerate(argv) if word == "-o")
    assert options["StrictHostKeyChecking"] == "yes" and options["HostKeyAlias"] == "dsvmctl-local-lab"
    known_hosts = Path(options["UserKnownHostsFile"])
    assert known_hosts == lab.paths.root / "known_hosts"
    entries = dict(line.split(None, 1) for line in known_hosts.read_text().splitlines())
    assert entries["dsvmctl-local-lab"].split()[:2] == lab.record.host_public_key.split()[:2]
    assert argv[-1] == f"{lab.record.admin_user}@127.0.0.1"


def test_ssh_command_is_what_ssh_print_shows(lab):
    from click.testing import CliRunner

    from dsvmctl.cli import cli

    def without_port(argv: list[str]) -> list[str]:  # each process hosts the VM on a port of its own
        return argv[:argv.index("-p")] + argv[argv.index("-p") + 2:]

    printed = shlex.split(CliRunner().invoke(cli, ["ssh", "lab", "--print"]).stdout.splitlines()[0])
    assert without_port(printed) == without_port(lab.ssh_command())


@pytest.mark.skipif(shutil.which("ssh") is None, reason="needs the OpenSSH client (apt-get install openssh-client)")
def test_ssh_command_logs_in_with_openssh_while_the_vm_is_hosted(lab):
    argv = lab.ssh_command()
    command = argv[:-1] + ["-o", "BatchMode=yes", "-o", "ConnectTimeout=20", argv[-1], "echo", "hello-from-ssh"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "hello-from-ssh"


def test_ssh_command_of_a_deallocated_vm_says_to_start_it(lab):
    lab.stop()
    with pytest.raises(Exception, match="deallocated: it does not answer SSH"):
        lab.ssh_command()


def test_cloud_sizes_pairs_cpu_sizes_with_gpu_sizes_by_the_catalogs_rule(cloud):
    listing = cloud.sizes("eastus")
    by_name = {size.name: size for size in listing.sizes}
    assert GPU in by_name["Standard_D4ds_v5"].gpu_partners
    assert by_name["Standard_D4s_v5"].gpu_partners == []  # no temp disk: no NC size takes it
    assert all(can_resize_between(by_name[name], by_name[partner])
               for name in by_name for partner in by_name[name].gpu_partners)
    assert listing.to_json()["sizes"][0].keys() >= {"name", "quota_left", "gpu_partners"}
    assert all(size.gpus for size in cloud.sizes("eastus", gpu_only=True).sizes)


def test_machine_resume_finishes_a_resize_the_network_interrupted(cloud, lab):
    cloud.backend.emulator.faults.connection_reset("PATCH", "/virtualMachines/lab$", times=None)
    with pytest.raises(ResizeIncomplete):
        lab.resize(GPU)
    cloud.backend.emulator.faults.clear()

    result = lab.resume()
    assert result.resumed and result.verified and result.size == GPU
    assert result.power_state is PowerState.RUNNING


def test_resize_with_abandon_forgets_an_unfinished_resize_to_another_size(cloud, lab):
    cloud.backend.emulator.faults.connection_reset("PATCH", "/virtualMachines/lab$", times=None)
    with pytest.raises(ResizeIncomplete):
        lab.resize(GPU)
    cloud.backend.emulator.faults.clear()
    with pytest.raises(UsageError, match="--abandon"):
        lab.resize("Standard_D8ds_v5")

    result = lab.resize("Standard_D8ds_v5", abandon=True)
    assert result.verified and result.size == "Standard_D8ds_v5" and not result.resumed
    assert '"to": "Standard_D8ds_v5"' in journal_path(lab).read_text()


def test_quickstart_refuses_a_cloud_other_than_the_local_one_before_any_call():
    class AzureLike:
        kind = "azure"

        def up(self, *args, **kwargs):
            raise AssertionError("quickstart must not create anything on Azure")

    with pytest.raises(UsageError, match="local cloud only"):
        quickstart(AzureLike())


def _run(size: str, status: str = "ok") -> RunRecord:
    metrics = {"device": "cpu", "device_name": "x86_64", "samples_per_s": 10.0, "step_time_ms": 100.0,
               "wall_s": 2.0, "steps": 20}
    common = dict(comparison_id="c1", machine="quickstart", cloud="local", size=size, workload="cnn")
    if status != "ok":
        return RunRecord.failed("could not run", **common)
    return RunRecord.from_metrics(metrics, run_id=f"r-{size}", **common)


def test_quickstart_result_says_whether_the_os_disk_was_kept_and_both_runs_happened():
    runs = [_run("Standard_D4ds_v5"), _run(GPU)]
    kept = QuickstartResult("quickstart", {"runs": runs, "comparison": compare_runs(runs),
                                           "os_disk_ids": ["/disks/a", "/disks/a"]}, {"markdown": "r.md"}, 12.5, False)
    assert kept.ok and kept.os_disk_kept
    document = kept.to_json()
    assert [r["size"] for r in document["runs"]] == ["Standard_D4ds_v5", GPU]
    assert (document["report_path"], document["plot_path"], document["seconds"]) == ("r.md", None, 12.5)

    runs = [_run("Standard_D4ds_v5"), _run(GPU, status="failed")]
    swapped = QuickstartResult("quickstart", {"runs": runs, "comparison": compare_runs(runs),
                                              "os_disk_ids": ["/disks/a", "/disks/b"]}, {}, 1.0, True)
    assert not swapped.ok and not swapped.os_disk_kept
    assert swapped.to_json()["runs"][1]["status"] == "failed"
