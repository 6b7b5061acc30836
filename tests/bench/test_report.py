"""Report views: JSON and Markdown shapes, the rich table, the PNG plot."""

from __future__ import annotations

import json
import sys

import pytest
from rich.console import Console

from dsvmctl.bench import report
from dsvmctl.bench.compare import compare
from dsvmctl.catalog.sizes import PRICES_AS_OF, PRICES_SOURCE
from dsvmctl.errors import DsvmctlError

from .conftest import LARGE_BATCH, busy_gpu_metrics, make_metrics, make_run, quote

T4 = "Standard_NC4as_T4_v3"
CPU = "Standard_D4ds_v5"
RUN_KEYS = {"run_id", "comparison_id", "machine", "size", "device", "device_name", "samples_per_s", "step_time_ms",
            "achieved_tflops", "mfu", "wall_s", "price_per_hour", "cost_per_1000_steps", "status", "error",
            "started_at"}


@pytest.fixture
def gpu_bench():
    runs = [make_run(make_metrics(step_time_ms=9_000.0, **LARGE_BATCH), size=CPU),
            make_run(busy_gpu_metrics(), size=T4)]
    return runs, compare(*runs)


@pytest.fixture
def cpu_only_bench():
    """What the local cloud produces on a machine without a GPU: both runs on the CPU."""
    runs = [make_run(make_metrics(step_time_ms=180.0), size=CPU), make_run(make_metrics(step_time_ms=170.0), size=T4)]
    return runs, compare(*runs)


@pytest.fixture
def failed_bench():
    runs = [make_run(make_metrics(), size=CPU),
            make_run(None, size=T4, error="resize refused: QuotaExceeded | family NCASv3_T4\n  fix: request quota")]
    return runs, compare(*runs)


def test_json_has_the_documented_shape(gpu_bench):
    runs, comparison = gpu_bench
    doc = report.to_json(runs, comparison)
    assert set(doc) == {"runs", "comparison", "prices"}
    assert all(RUN_KEYS <= set(r) for r in doc["runs"])
    assert [r["device"] for r in doc["runs"]] == ["cpu", "cuda:0"]
    assert doc["runs"][1]["cost_per_1000_steps"] == pytest.approx(11.0 / 3600 * 0.526)
    assert doc["comparison"]["speedup"] == pytest.approx(comparison.speedup)
    assert doc["prices"] == {"source": PRICES_SOURCE, "as_of": PRICES_AS_OF}
    assert json.loads(json.dumps(doc)) == doc  # plain JSON all the way down


def test_json_of_a_failed_run_has_nulls_and_the_error(failed_bench):
    runs, comparison = failed_bench
    failed = report.to_json(runs, comparison)["runs"][1]
    assert failed["status"] == "failed" and failed["error"].startswith("resize refused")
    assert all(failed[k] is None for k in ("device", "samples_per_s", "step_time_ms", "mfu", "cost_per_1000_steps"))
    assert report.to_json(runs, comparison)["comparison"]["speedup"] is None


def test_json_without_comparison_and_with_mixed_price_sources():
    runs = [make_run(make_metrics(), size=CPU, price=quote(CPU, 0.2, "Azure Retail Prices API", "2026-12-01")),
            make_run(make_metrics(), size=T4)]
    doc = report.to_json(runs)
    assert doc["comparison"] is None
    assert doc["prices"]["source"] == f"Azure Retail Prices API; {PRICES_SOURCE}"
    assert doc["prices"]["as_of"] == f"2026-12-01; {PRICES_AS_OF}"


def test_markdown_table_names_the_device_that_ran(cpu_only_bench):
    runs, comparison = cpu_only_bench
    md = report.to_markdown(runs, comparison)
    lines = md.splitlines()
    assert lines[0].startswith("| size | device | device name | samples/s |")
    assert lines[1].count("|") == lines[0].count("|")
    gpu_row = next(line for line in lines if line.startswith(f"| {T4} "))
    assert gpu_row.split(" | ")[1] == "cpu"
    assert "n/a (CPU)" in gpu_row
    assert "**GPU-size run (on CPU) vs CPU: 1.06x samples/s" in md
    assert "- the GPU-size run ran on the CPU (no GPU on this machine)" in md
    assert f"Prices: {PRICES_SOURCE}, as of {PRICES_AS_OF}." in md


def test_markdown_shows_a_failed_step_without_numbers(failed_bench):
    runs, comparison = failed_bench
    md = report.to_markdown(runs, comparison)
    row = next(line for line in md.splitlines() if line.startswith(f"| {T4} "))
    assert "did not run" in row and "—" in row
    # The error (which has a pipe and a newline) becomes one list item, not a broken table.
    assert f"- warning: the GPU step on {T4} could not run: resize refused: QuotaExceeded | family " \
           "NCASv3_T4 fix: request quota" in md
    assert "**no speedup" in md


def test_markdown_without_comparison_still_lists_failures():
    runs = [make_run(None, size=T4, error="SSH connection lost")]
    md = report.to_markdown(runs)
    assert f"- {T4} could not run: SSH connection lost" in md
    assert "**" not in md


def test_rich_table_has_the_columns_and_a_footer(gpu_bench):
    runs, comparison = gpu_bench
    table = report.render_table(runs, comparison)
    assert [c.header for c in table.columns] == list(report.COLUMNS)
    console = Console(record=True, width=200)
    console.print(table)
    text = console.export_text()
    assert "cuda:0" in text and "Tesla T4" in text and "22.8%" in text  # 14.8 TFLOP/s of a T4's 65
    assert "GPU vs CPU: 818.18x samples/s" in text
    assert f"as of {PRICES_AS_OF}" in text


def test_rich_table_marks_a_failed_step(failed_bench):
    console = Console(record=True, width=250)
    console.print(report.render_table(*failed_bench))
    text = console.export_text()
    assert "did not run" in text and "could not run" in text


def test_plot_writes_a_png(tmp_path, gpu_bench, failed_bench):
    for name, (runs, comparison) in {"gpu": gpu_bench, "failed": failed_bench}.items():
        out = report.plot(runs, tmp_path / "plots" / f"{name}.png", comparison)
        data = out.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        assert len(data) > 1024


def test_plot_without_matplotlib_says_how_to_install_it(tmp_path, gpu_bench, monkeypatch):
    for module in ("matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, module, None)  # import of a None entry raises ImportError
    with pytest.raises(DsvmctlError) as info:
        report.plot(gpu_bench[0], tmp_path / "p.png")
    assert "pip install 'dsvmctl[plot]'" in str(info.value)
    assert not (tmp_path / "p.png").exists()


def test_importing_the_bench_package_stays_light():
    import subprocess

    code = ("import sys, dsvmctl.bench, dsvmctl.bench.store, dsvmctl.bench.compare, dsvmctl.bench.report;"
            "print(sorted(m for m in ('matplotlib', 'requests', 'rich') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
