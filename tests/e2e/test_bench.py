"""bench, report and quickstart on the local cloud: real runs of the shipped workload."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


def _cli(home, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "DSVMCTL_HOME": str(home), "DSVMCTL_CLOUD": "local"}
    return subprocess.run([sys.executable, "-m", "dsvmctl", *args], capture_output=True, text=True, env=env,
                          timeout=timeout)


@pytest.mark.slow
def test_quickstart_runs_the_whole_job_and_reports_honestly(tmp_path):
    done = _cli(tmp_path, "quickstart", "--workload", "cnn", "-o", "json")
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    assert {"runs", "speedup", "os_disk_id_before", "os_disk_id_after", "report_path"} <= set(summary)
    assert summary["os_disk_id_before"] == summary["os_disk_id_after"]
    sizes = [run["size"] for run in summary["runs"]]
    assert sizes == ["Standard_D4ds_v5", "Standard_NC4as_T4_v3"]
    for run in summary["runs"]:
        assert run["status"] == "ok" and run["samples_per_s"] > 0
        assert run["device"] == "cpu"  # no GPU here: the "GPU size" run used the CPU and says so
    notes = " ".join(n["text"] for n in summary["comparison"]["notes"])
    assert "ran on the CPU" in notes
    assert os.path.exists(summary["report_path"])
    assert "cpu" in open(summary["report_path"]).read()
    # The demo VM is gone, and report finds both runs in the database.
    assert json.loads(_cli(tmp_path, "list", "-o", "json").stdout)["machines"] == []
    stored = json.loads(_cli(tmp_path, "report", "-o", "json").stdout)
    assert sorted(r["run_id"] for r in stored["runs"]) == sorted(r["run_id"] for r in summary["runs"])
    plot = tmp_path / "plot.png"
    assert _cli(tmp_path, "report", "--plot", str(plot)).returncode == 0
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_bench_stores_a_failed_step_instead_of_inventing_numbers(tmp_path):
    assert _cli(tmp_path, "up", "lab").returncode == 0
    # Over quota: the A100 family has no cores by default, so the GPU step cannot run.
    result = _cli(tmp_path, "bench", "lab", "--gpu-size", "Standard_NC24ads_A100_v4", "--workload", "cnn",
                  "--steps", "3", "-o", "json")
    assert result.returncode == 1
    document = json.loads(result.stdout)
    statuses = {run["size"]: run["status"] for run in document["runs"]}
    assert statuses == {"Standard_D4ds_v5": "ok", "Standard_NC24ads_A100_v4": "failed"}
    failed = next(run for run in document["runs"] if run["status"] == "failed")
    assert failed["samples_per_s"] is None and "quota" in failed["error"].lower()


def test_prices_refresh_keeps_the_retail_api_answer_and_says_its_source(tmp_path, monkeypatch):
    import responses
    from click.testing import CliRunner

    from dsvmctl.cli import cli

    monkeypatch.setenv("DSVMCTL_HOME", str(tmp_path))
    item = {"currencyCode": "USD", "retailPrice": 0.611, "armRegionName": "westeurope",
            "armSkuName": "Standard_NC4as_T4_v3", "productName": "Virtual Machines NCasT4_v3 Series",
            "skuName": "NC4as T4 v3", "serviceName": "Virtual Machines", "type": "Consumption",
            "effectiveStartDate": "2026-10-01T00:00:00Z"}
    with responses.RequestsMock() as mock:
        mock.add(responses.GET, "https://prices.azure.com/api/retail/prices",
                 json={"Items": [item], "NextPageLink": None, "Count": 1})
        refreshed = CliRunner().invoke(cli, ["prices", "Standard_NC4as_T4_v3", "--location", "westeurope",
                                             "--refresh", "-o", "json"])
    assert refreshed.exit_code == 0, refreshed.output
    row = json.loads(refreshed.output)["prices"][0]
    assert row["price_per_hour"] == 0.611 and "Retail Prices API" in row["source"]
    # Later, offline: the kept answer is used, not the snapshot (which has no westeurope prices).
    again = json.loads(CliRunner().invoke(cli, ["prices", "Standard_NC4as_T4_v3", "--location", "westeurope",
                                                "-o", "json"]).output)
    assert again["prices"][0]["price_per_hour"] == 0.611


def test_prices_refresh_offline_fails_clearly_and_keeps_the_snapshot(tmp_path, monkeypatch):
    import requests
    import responses
    from click.testing import CliRunner

    from dsvmctl.cli import cli

    monkeypatch.setenv("DSVMCTL_HOME", str(tmp_path))
    with responses.RequestsMock() as mock:
        mock.add(responses.GET, "https://prices.azure.com/api/retail/prices",
                 body=requests.exceptions.ConnectionError("offline"))
        result = CliRunner().invoke(cli, ["prices", "Standard_D4ds_v5", "--refresh", "-o", "json"])
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert document["prices"][0]["price_per_hour"] == 0.226
    assert "snapshot" in document["refresh_error"]
