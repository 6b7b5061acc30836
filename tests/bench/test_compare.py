"""compare(): speedup, cost per 1,000 steps, and notes that never oversell."""

from __future__ import annotations

import pytest

from dsvmctl.bench.compare import compare, compare_runs, cost_per_1000_steps, pair_runs

from .conftest import LARGE_BATCH, busy_gpu_metrics, make_metrics, make_run, quote

T4 = "Standard_NC4as_T4_v3"
CPU = "Standard_D4ds_v5"


def texts(comparison, level: str | None = None) -> str:
    return "\n".join(n.text for n in comparison.notes if level is None or n.level == level)


def large_cpu_run(**kw):
    return make_run(make_metrics(step_time_ms=9_000.0, **LARGE_BATCH), size=CPU, **kw)


def test_cost_per_1000_steps():
    # 1,000 steps x 360 ms = 360 s = 0.1 h; at $2/h that is $0.20.
    assert cost_per_1000_steps(360.0, 2.0) == pytest.approx(0.20)
    assert cost_per_1000_steps(None, 2.0) is None
    assert cost_per_1000_steps(360.0, None) is None
    with pytest.raises(ValueError):
        cost_per_1000_steps(-1.0, 2.0)


def test_busy_gpu_gives_a_speedup_and_a_cost_ratio_without_warnings():
    cpu = large_cpu_run(price=quote(CPU, 0.226))
    gpu = make_run(busy_gpu_metrics(precision="fp16"), size=T4, price=quote(T4, 0.526))
    c = compare(cpu, gpu)
    assert c.speedup == pytest.approx(9_000.0 / 11.0)
    assert c.gpu_ran_on_gpu is True
    assert c.cpu_cost_per_1000_steps == pytest.approx(9_000.0 / 3600 * 0.226)
    assert c.gpu_cost_per_1000_steps == pytest.approx(11.0 / 3600 * 0.526)
    assert c.cost_ratio == pytest.approx((11.0 * 0.526) / (9_000.0 * 0.226))
    assert c.warnings == []
    assert "precision differs" in texts(c, "info")  # fp32 on the CPU, fp16 on the T4: said, not hidden
    assert c.headline().startswith("GPU vs CPU: 818.18x samples/s")
    assert c.comparison_id == cpu.comparison_id


def test_gpu_size_run_on_the_cpu_is_flagged_as_two_cpu_runs():
    cpu = make_run(make_metrics(step_time_ms=180.0), size=CPU)
    gpu_size_on_cpu = make_run(make_metrics(step_time_ms=150.0), size=T4)  # local cloud, no GPU here
    c = compare(cpu, gpu_size_on_cpu)
    assert c.gpu_ran_on_gpu is False
    assert ("the GPU-size run ran on the CPU (no GPU on this machine): the speedup compares two CPU runs"
            in texts(c))
    assert "GPU vs CPU" not in c.headline() and "on CPU" in c.headline()
    assert "too small" not in texts(c)  # GPU-load advice makes no sense without a GPU


def test_speedup_below_one_is_a_warning():
    cpu = large_cpu_run()
    slow_gpu = make_run(busy_gpu_metrics(step_time_ms=12_000.0), size=T4)
    c = compare(cpu, slow_gpu)
    assert c.speedup == pytest.approx(0.75)
    assert "slower than the CPU run (0.75x" in texts(c, "warning")


@pytest.mark.parametrize("gpu_metrics,detail", [
    (busy_gpu_metrics(step_time_ms=400.0), "MFU 0.6%"),  # long steps, idle tensor cores
    (busy_gpu_metrics(step_time_ms=3.0, peak_tflops=None), "3.00 ms per step"),  # no peak known: step time rule
])
def test_workload_too_small_for_the_gpu_is_warned(gpu_metrics, detail):
    c = compare(large_cpu_run(), make_run(gpu_metrics, size=T4))
    warning = texts(c, "warning")
    assert "workload too small to load the GPU" in warning and detail in warning


def test_unknown_gpu_peak_is_said():
    c = compare(large_cpu_run(), make_run(busy_gpu_metrics(peak_tflops=None, device_name="Some New GPU"), size=T4))
    assert "MFU unknown: no peak TFLOP/s figure for Some New GPU" in texts(c, "info")


def test_failed_gpu_step_is_named_and_no_numbers_are_made_up():
    cpu = make_run(make_metrics(), size=CPU)
    gpu = make_run(None, size=T4, error="resize to Standard_NC4as_T4_v3 failed: AllocationFailed")
    c = compare(cpu, gpu)
    assert c.speedup is None and c.cost_ratio is None and c.gpu_cost_per_1000_steps is None
    assert c.gpu_ran_on_gpu is None
    assert f"the GPU step on {T4} could not run: resize to {T4} failed: AllocationFailed" in texts(c, "warning")
    assert c.cpu_cost_per_1000_steps is not None  # what did run is still reported
    assert c.headline() == "no speedup: the GPU step did not run"
    assert c.did_not_run == ("GPU",)


def test_failed_cpu_step_is_named():
    c = compare(make_run(None, size=CPU, error="SSH connection lost"), make_run(busy_gpu_metrics(), size=T4))
    assert c.speedup is None
    assert f"the CPU step on {CPU} could not run: SSH connection lost" in texts(c)


def test_missing_run_is_said():
    c = compare(make_run(make_metrics(), size=CPU), None)
    assert c.speedup is None and c.gpu_run_id is None
    assert "there is no GPU-size run" in texts(c, "warning")
    assert compare(None, None).headline() == "no speedup: the CPU and GPU steps did not run"


def test_different_workloads_are_not_like_for_like():
    c = compare(make_run(make_metrics(batch_size=16), size=CPU), make_run(busy_gpu_metrics(), size=T4))
    assert "different workloads (batch_size 16 vs 128)" in texts(c, "warning")


def test_gpu_run_on_a_size_without_gpu_is_warned():
    c = compare(make_run(make_metrics(), size=CPU), make_run(make_metrics(), size="Standard_D8ds_v5"))
    assert "size Standard_D8ds_v5 offers no GPU" in texts(c, "warning")


def test_missing_price_makes_cost_unknown_not_zero():
    cpu = make_run(make_metrics(), size=CPU, price=quote(CPU, None, source="no price for westeurope"))
    gpu = make_run(make_metrics(), size=T4)
    c = compare(cpu, gpu)
    assert c.cpu_cost_per_1000_steps is None and c.cost_ratio is None
    assert f"no price known for {CPU} (no price for westeurope)" in texts(c)


def test_gpu_costing_more_per_step_is_said():
    cpu = large_cpu_run(price=quote(CPU, 0.10))
    gpu = make_run(busy_gpu_metrics(step_time_ms=8_000.0), size=T4, price=quote(T4, 1.00))
    c = compare(cpu, gpu)
    assert c.cost_ratio == pytest.approx(8_000 * 1.00 / (9_000 * 0.10))
    assert "1,000 steps cost 8.89x as much on Standard_NC4as_T4_v3" in texts(c)


def test_pair_runs_takes_sizes_not_devices_and_prefers_the_last_ok_attempt():
    cpu = make_run(make_metrics(), size=CPU)
    gpu_failed = make_run(None, size=T4, error="SSH timeout")
    gpu_ok = make_run(make_metrics(), size=T4)  # ran on the CPU, but it is still the GPU-size run
    gpu_failed_again = make_run(None, size=T4, error="later retry failed")
    assert pair_runs([cpu, gpu_failed, gpu_ok, gpu_failed_again]) == (cpu, gpu_ok)
    assert pair_runs([cpu, gpu_failed]) == (cpu, gpu_failed)
    assert pair_runs([]) == (None, None)
    assert compare_runs([cpu, gpu_ok]).gpu_run_id == gpu_ok.run_id


def test_runs_from_different_benches_have_no_single_comparison_id():
    c = compare(make_run(make_metrics(), size=CPU, comparison_id="aaa"),
                make_run(make_metrics(), size=T4, comparison_id="bbb"))
    assert c.comparison_id is None
    assert "different benches" in texts(c)


def test_to_dict_is_plain_data():
    d = compare(large_cpu_run(), make_run(busy_gpu_metrics(), size=T4)).to_dict()
    assert set(d) >= {"comparison_id", "speedup", "cost_ratio", "gpu_ran_on_gpu", "notes"}
    assert all(set(n) == {"level", "text"} for n in d["notes"])
