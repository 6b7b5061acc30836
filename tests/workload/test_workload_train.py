"""train.py end to end: subprocess runs (how the product runs it) and in-process runs."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

WORKLOADS = Path(__file__).resolve().parents[2] / "workloads"

# Tiny sizes: enough for the loss to fall clearly in ~20 steps, a few seconds on 2 CPU cores.
TINY_LM = ["--model", "transformer", "--d-model", "64", "--n-layers", "2", "--n-heads", "2",
           "--seq-len", "64", "--batch-size", "8", "--device", "cpu"]
TINY_CNN = ["--model", "cnn", "--width", "16", "--blocks", "1,1", "--image-size", "16",
            "--batch-size", "16", "--lr", "1e-2", "--device", "cpu"]


def run_train(args: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "train.py", *args], cwd=WORKLOADS, capture_output=True,
                          text=True, timeout=timeout)


def load(path: Path) -> dict:
    return json.loads(path.read_text())


PROGRESS = re.compile(r"^step \d+/\d+ loss \d+\.\d+ \d+(\.\d+)? samples/s( \(warmup\))?$")

COMMON_FIELDS = {
    "model": str, "device": str, "device_name": str, "torch_version": str, "samples_per_s": float,
    "step_time_ms": float, "step_time_ms_p90": float, "flops_per_step": int, "achieved_tflops": float,
    "precision": str, "compiled": bool, "steps": int, "warmup_steps": int, "batch_size": int,
    "initial_loss": float, "final_loss": float, "loss_history": list, "wall_s": float, "params": int,
    "seed": int, "host": dict,
}


def check_metrics(m: dict, model: str, steps: int, warmup: int, batch: int) -> None:
    for key, typ in COMMON_FIELDS.items():
        assert key in m, key
        assert isinstance(m[key], typ), (key, m[key])
    for key in ("mfu", "peak_tflops", "tokens_per_s", "seq_len"):
        assert key in m, key
    assert m["model"] == model
    assert m["device"] == "cpu"
    assert m["device_name"].strip()
    assert m["torch_version"] == torch.__version__
    assert (m["steps"], m["warmup_steps"], m["batch_size"]) == (steps, warmup, batch)
    assert m["precision"] in ("fp32", "bf16")
    assert m["compiled"] is False  # --compile auto stays eager on CPU
    assert m["mfu"] is None and m["peak_tflops"] is None  # no MFU for CPUs
    assert 0 < m["step_time_ms"] <= m["step_time_ms_p90"]
    # Derived numbers are consistent with each other.
    assert m["samples_per_s"] == pytest.approx(batch / (m["step_time_ms"] / 1e3), rel=1e-6)
    assert m["achieved_tflops"] == pytest.approx(m["flops_per_step"] / (m["step_time_ms"] / 1e3) / 1e12, rel=1e-6)
    assert 0 < m["achieved_tflops"] < 50  # a CPU doing >50 TFLOP/s would mean a timing bug
    assert m["params"] > 0 and m["wall_s"] > 0
    hist = m["loss_history"]
    assert 2 <= len(hist) <= 20
    assert all(isinstance(h["step"], int) and isinstance(h["loss"], float) for h in hist)
    assert hist[0] == {"step": 1, "loss": m["initial_loss"]}
    assert hist[-1] == {"step": steps + warmup, "loss": m["final_loss"]}
    host = m["host"]
    for key in ("hostname", "cpu_count", "python_version", "os", "cuda_version", "gpu_count"):
        assert key in host, key
    assert isinstance(host["cpu_count"], int) and isinstance(host["gpu_count"], int)


@pytest.mark.parametrize("model,tiny", [("transformer", TINY_LM), ("cnn", TINY_CNN)])
def test_script_trains_and_writes_metrics(tmp_path, model, tiny):
    out = tmp_path / "sub" / "metrics.json"
    proc = run_train([*tiny, "--steps", "20", "--warmup", "2", "--seed", "3", "--out", str(out)])
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines, "expected progress lines on stdout"
    bad = [line for line in lines if not PROGRESS.match(line)]
    assert not bad, f"stdout must carry only progress lines, got {bad}"
    assert lines[-1].startswith("step 22/22 ")
    m = load(out)
    check_metrics(m, model, steps=20, warmup=2, batch=int(tiny[tiny.index("--batch-size") + 1]))
    # The synthetic data has structure to learn: the loss must really fall.
    assert m["final_loss"] < 0.8 * m["initial_loss"], m["loss_history"]
    first = sum(h["loss"] for h in m["loss_history"][:3]) / 3
    last = sum(h["loss"] for h in m["loss_history"][-3:]) / 3
    assert last < 0.85 * first
    if model == "transformer":
        assert m["seq_len"] == 64
        assert m["tokens_per_s"] == pytest.approx(m["samples_per_s"] * 64)
        assert m["initial_loss"] == pytest.approx(torch.log(torch.tensor(256.0)).item(), abs=0.3)
    else:
        assert m["seq_len"] is None and m["tokens_per_s"] is None
        assert m["initial_loss"] == pytest.approx(torch.log(torch.tensor(10.0)).item(), abs=0.5)


def test_same_seed_same_losses_other_seed_differs(tmp_path, train_module):
    def losses(seed, name):
        out = tmp_path / name
        args = [*TINY_LM, "--steps", "3", "--warmup", "0", "--seed", str(seed), "--precision", "fp32",
                "--out", str(out)]
        assert train_module.main(args) == 0
        return load(out)

    a, b, c = losses(7, "a.json"), losses(7, "b.json"), losses(8, "c.json")
    assert a["initial_loss"] == b["initial_loss"]
    assert [h["loss"] for h in a["loss_history"]] == [h["loss"] for h in b["loss_history"]]
    assert a["initial_loss"] != c["initial_loss"]


def test_cnn_in_process_bf16_on_cpu(tmp_path, train_module, capsys):
    out = tmp_path / "m.json"
    assert train_module.main([*TINY_CNN, "--steps", "2", "--warmup", "1", "--precision", "bf16",
                              "--out", str(out)]) == 0
    m = load(out)
    assert m["precision"] == "bf16"
    assert all(PROGRESS.match(line) for line in capsys.readouterr().out.splitlines())


@pytest.mark.parametrize("args,needle", [
    (["--steps", "0"], "--steps"),
    (["--batch-size", "-1"], "--batch-size"),
    (["--model", "rnn"], "--model"),
    (["--device", "tpu"], "--device"),
    (["--d-model", "10", "--n-heads", "3"], "divisible"),
    (["--model", "cnn", "--blocks", "2,x"], "--blocks"),
    (["--lr", "0"], "--lr"),
    (["--warmup", "-2"], "--warmup"),
])
def test_bad_args_exit_2_with_message(tmp_path, args, needle):
    out = tmp_path / "m.json"
    proc = run_train([*args, "--out", str(out)], timeout=60)
    assert proc.returncode == 2
    assert needle in proc.stderr
    assert proc.stdout == ""
    assert not out.exists()


def test_fp16_on_cpu_is_refused(tmp_path):
    proc = run_train([*TINY_LM, "--precision", "fp16", "--out", str(tmp_path / "m.json")], timeout=60)
    assert proc.returncode == 2
    assert "only supported on CUDA" in proc.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_device_cuda_without_cuda_fails_clearly(tmp_path):
    out = tmp_path / "m.json"
    proc = run_train([*TINY_LM, "--device", "cuda", "--out", str(out)], timeout=60)
    assert proc.returncode == 2
    assert "CUDA is not available" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout == "" and not out.exists()


def test_help_lists_the_flags():
    proc = run_train(["--help"], timeout=60)
    assert proc.returncode == 0
    for flag in ("--model", "--device", "--steps", "--batch-size", "--precision", "--compile", "--seed",
                 "--warmup", "--out", "--seq-len", "--preset"):
        assert flag in proc.stdout


def test_presets_resolve(train_module):
    large = train_module.resolve_args(["--preset", "large"])
    assert large.d_model // large.n_heads == 128 and large.vocab_size % 128 == 0 and large.seq_len == 2048
    small = train_module.resolve_args(["--model", "cnn", "--width", "8"])
    assert small.width == 8 and small.blocks == [2, 2, 2, 2] and small.steps == 30


def test_default_auto_device_is_cpu_here(tmp_path, train_module):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    out = tmp_path / "m.json"
    assert train_module.main([*TINY_LM[:-2], "--steps", "1", "--warmup", "0", "--out", str(out)]) == 0
    assert json.loads(out.read_text())["device"] == "cpu"


class _FakeCuda:
    """Just enough of torch.cuda for resolve_precision's capability decision."""

    def __init__(self, capability, name):
        self._cap, self._name = capability, name

    def get_device_capability(self, device):
        return self._cap

    def get_device_name(self, device):
        return self._name


@pytest.mark.parametrize("capability,name,requested,expected", [
    ((9, 0), "NVIDIA H200", "auto", "bf16"),
    ((8, 0), "NVIDIA A100-SXM4-80GB", "auto", "bf16"),
    ((7, 5), "Tesla T4", "auto", "fp16"),  # no bf16 tensor cores: fp16 + GradScaler
    ((7, 0), "Tesla V100-SXM2-16GB", "auto", "fp16"),
    ((9, 0), "NVIDIA H200", "fp32", "fp32"),
    ((9, 0), "NVIDIA H200", "tf32", "tf32"),
])
def test_gpu_precision_choice(train_module, capability, name, requested, expected):
    fake_torch = type("T", (), {"cuda": _FakeCuda(capability, name)})
    assert train_module.resolve_precision(fake_torch, requested, torch.device("cuda", 0)) == expected


def test_bf16_refused_on_pre_ampere_gpu(train_module):
    fake_torch = type("T", (), {"cuda": _FakeCuda((7, 5), "Tesla T4")})
    with pytest.raises(train_module.UsageError, match="bf16"):
        train_module.resolve_precision(fake_torch, "bf16", torch.device("cuda", 0))


def test_compile_choice(train_module):
    cpu = torch.device("cpu")
    assert train_module.resolve_compile("auto", cpu) is False
    assert train_module.resolve_compile("on", cpu) is True
    assert train_module.resolve_compile("off", torch.device("cuda", 0)) is False
