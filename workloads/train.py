#!/usr/bin/env python3
"""Train a small GPT-style LM or a ResNet-style CNN on synthetic data and write metrics JSON.

Plain PyTorch; imports nothing from dsvmctl (it is copied to the VM and run as
`python train.py ...`). stdout carries only progress lines ("step 10/33 loss 3.2100 312.4
samples/s"); everything else goes to stderr; the results go to the --out JSON file.

Timing: --warmup steps run first (they include torch.compile and allocator/cuDNN warm-up) and
are not timed; then --steps steps are timed one by one (CUDA events on GPU, so asynchronous
launches are measured where the GPU executes them). step_time_ms is the median.
FLOPs: analytic matmul/conv count from the model's shapes, 3x the forward pass per step
(see flops.py for the convention). achieved_tflops = flops_per_step / median step time.

Data parallel: started by torchrun (RANK/WORLD_SIZE... in the environment), every process
joins the process group (NCCL on CUDA, gloo on CPU), trains a DistributedDataParallel copy of
the model on its own shard of the data (--batch-size is per process), and rank 0 alone prints
progress and writes the metrics: global throughput, every rank's step times and every rank's
checksum of its final parameters (DDP keeps them identical). See distributed.py.
"""

from __future__ import annotations

import time

_T_START = time.perf_counter()  # wall_s includes the torch import, as the user experiences it

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
from contextlib import nullcontext  # noqa: E402

# Size presets. "small" finishes in well under a minute on a 2-core CPU; "large" is sized to
# keep an H100/H200 busy (d_model 2048, head_dim 128, seq 2048, vocab a multiple of 128).
PRESETS: dict[str, dict[str, dict]] = {
    "transformer": {
        "small": dict(vocab_size=256, seq_len=128, d_model=256, n_layers=4, n_heads=4,
                      batch_size=16, steps=30, warmup=3, lr=3e-3),
        "large": dict(vocab_size=50304, seq_len=2048, d_model=2048, n_layers=16, n_heads=16,
                      batch_size=8, steps=20, warmup=5, lr=6e-4),
    },
    "cnn": {
        "small": dict(image_size=32, width=32, blocks="2,2,2,2", num_classes=10,
                      batch_size=32, steps=30, warmup=3, lr=3e-3),
        "large": dict(image_size=224, width=64, blocks="2,2,2,2", num_classes=10,
                      batch_size=256, steps=20, warmup=5, lr=1e-3),
    },
}
POOL_BATCHES = 16  # at most this many distinct synthetic batches, cycled through in training
POOL_MAX_BYTES = 1 << 30  # ...and at most ~1 GiB of them (a large-preset CNN batch is 154 MB)
LR_WARMUP_STEPS = 5


class UsageError(Exception):
    """A bad argument or an impossible request: reported on stderr, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="train.py",
        description="Train a GPT-style transformer LM or a ResNet-style CNN on synthetic data "
                    "and write throughput/FLOP metrics as JSON.",
        epilog="Size knobs left unset come from --preset. Example: "
               "python train.py --model transformer --preset large --device cuda --out m.json",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--model", choices=["transformer", "cnn"], default="transformer",
                   help="which workload to train")
    p.add_argument("--preset", choices=["small", "large"], default="small",
                   help="size preset: small (CPU, quick) or large (sized for H100/H200-class GPUs)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                   help="auto picks cuda when available")
    p.add_argument("--precision", choices=["auto", "fp32", "tf32", "bf16", "fp16"], default="auto",
                   help="auto: bf16 autocast on GPUs with bf16 (Ampere+), fp16+GradScaler on "
                        "older GPUs; on CPU bf16 autocast if it has AVX512-BF16/AMX, else fp32. "
                        "tf32 = fp32 with TF32 tensor-core matmuls (CUDA only)")
    p.add_argument("--compile", choices=["auto", "on", "off"], default="auto",
                   help="torch.compile the model; auto = on for CUDA, off on CPU")
    p.add_argument("--steps", type=int, default=None, help="timed training steps (preset default)")
    p.add_argument("--warmup", type=int, default=None,
                   help="untimed steps before timing, incl. compilation (preset default)")
    p.add_argument("--batch-size", type=int, default=None, help="samples per step (preset default)")
    p.add_argument("--lr", type=float, default=None, help="AdamW learning rate (preset default)")
    p.add_argument("--seed", type=int, default=0, help="seeds model init and the synthetic data")
    p.add_argument("--out", default="metrics.json", help="where to write the metrics JSON")
    p.add_argument("--log-every", type=int, default=None,
                   help="progress line every N steps (default: about 10 lines per run)")
    p.add_argument("--peak-cache", default=None,
                   help="CPU only: where the measured matmul peak is cached (default "
                        "$DSVMCTL_PEAK_CACHE or ~/.cache/dsvmctl/cpu_peak.json)")
    t = p.add_argument_group("transformer size (override the preset)")
    t.add_argument("--seq-len", type=int, default=None, help="tokens per sequence")
    t.add_argument("--d-model", type=int, default=None, help="hidden size")
    t.add_argument("--n-layers", type=int, default=None, help="transformer blocks")
    t.add_argument("--n-heads", type=int, default=None, help="attention heads (d_model / n_heads = head dim)")
    t.add_argument("--vocab-size", type=int, default=None, help="vocabulary size")
    c = p.add_argument_group("cnn size (override the preset)")
    c.add_argument("--image-size", type=int, default=None,
                   help="square image side; >= 128 uses the ImageNet stem (7x7/2 conv + max-pool)")
    c.add_argument("--width", type=int, default=None, help="channels of the first stage (doubles per stage)")
    c.add_argument("--blocks", default=None, help="basic blocks per stage, comma-separated, e.g. 2,2,2,2")
    c.add_argument("--num-classes", type=int, default=None, help="number of synthetic classes")
    return p


def resolve_args(argv: list[str] | None) -> argparse.Namespace:
    """Parse argv and fill unset knobs from the preset. Exits 2 (argparse style) on bad input."""
    parser = build_parser()
    args = parser.parse_args(argv)
    for key, value in PRESETS[args.model][args.preset].items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    if args.log_every is None:
        args.log_every = max(1, (args.warmup + args.steps) // 10)
    checks = [("--steps", args.steps, 1), ("--warmup", args.warmup, 0), ("--batch-size", args.batch_size, 1),
              ("--log-every", args.log_every, 1)]
    if args.model == "transformer":
        checks += [("--seq-len", args.seq_len, 1), ("--d-model", args.d_model, 1),
                   ("--n-layers", args.n_layers, 1), ("--n-heads", args.n_heads, 1),
                   ("--vocab-size", args.vocab_size, 2)]
    else:
        checks += [("--image-size", args.image_size, 8), ("--width", args.width, 1),
                   ("--num-classes", args.num_classes, 2)]
    for flag, value, minimum in checks:
        if value < minimum:
            parser.error(f"{flag} must be >= {minimum}, got {value}")
    if not args.lr > 0:
        parser.error(f"--lr must be > 0, got {args.lr}")
    if args.model == "transformer":
        if args.d_model % args.n_heads:
            parser.error(f"--d-model ({args.d_model}) must be divisible by --n-heads ({args.n_heads})")
    else:
        try:
            args.blocks = [int(b) for b in str(args.blocks).split(",")]
        except ValueError:
            parser.error(f"--blocks must be comma-separated integers, got {args.blocks!r}")
        if not args.blocks or min(args.blocks) < 1:
            parser.error(f"--blocks must be positive integers, got {args.blocks}")
    return args


# ---------------------------------------------------------------------------- environment


def cpu_model_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def cpu_has_native_bf16() -> bool:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = line.split(":", 1)[1].split()
                    return "avx512_bf16" in flags or "amx_bf16" in flags
    except OSError:
        pass
    return False


def host_facts(torch) -> dict:
    return {
        "hostname": socket.gethostname(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python_version": platform.python_version(),
        "os": platform.platform(),
        "cuda_version": torch.version.cuda,
        "gpu_count": torch.cuda.device_count() if torch.cuda.is_available() else 0,
    }


def resolve_device(torch, requested: str):
    if requested == "cuda" or (requested == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            why = ("this torch build has no CUDA support" if torch.version.cuda is None
                   else "no CUDA GPU/driver is visible")
            raise UsageError(f"--device cuda requested but CUDA is not available ({why}; "
                             f"torch {torch.__version__}). Use --device cpu or --device auto.")
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def resolve_precision(torch, requested: str, device) -> str:
    if device.type == "cuda":
        bf16_ok = torch.cuda.get_device_capability(device)[0] >= 8  # Ampere and newer
        if requested == "auto":
            return "bf16" if bf16_ok else "fp16"
        if requested == "bf16" and not bf16_ok:
            raise UsageError(f"--precision bf16: {torch.cuda.get_device_name(device)} has no native "
                             "bf16; use --precision fp16 or auto")
        if requested == "tf32" and not bf16_ok:
            raise UsageError("--precision tf32 needs an Ampere or newer GPU")
        return requested
    # CPU: bf16 autocast pays off only with native bf16 dot products (AVX512-BF16 or AMX);
    # elsewhere it is emulated and slower than fp32. Measured on an AVX512-BF16 EPYC: bf16 was
    # 1.1-1.8x faster than fp32 for these models (benchmarks/RESULTS.md).
    if requested == "auto":
        return "bf16" if cpu_has_native_bf16() else "fp32"
    if requested in ("fp16", "tf32"):
        raise UsageError(f"--precision {requested} is only supported on CUDA; use fp32 or bf16 on CPU")
    return requested


def resolve_compile(requested: str, device) -> bool:
    if requested == "off":
        return False
    if requested == "on":
        return True
    if device.type != "cuda":
        return False  # CPU compile takes longer than a whole small run
    try:
        import triton  # noqa: F401  (inductor's GPU backend)
    except ImportError:
        print("train.py: triton not importable; running eager", file=sys.stderr)
        return False
    return True


# ---------------------------------------------------------------------------- main


def build(args, torch, models, flops, data, device, shard: int = 0):
    """Model, synthetic batches (on device) and the counted FLOPs per step."""
    if args.model == "transformer":
        batch_bytes = 2 * 8 * args.batch_size * args.seq_len  # int64 inputs and targets
    else:
        batch_bytes = 4 * 3 * args.batch_size * args.image_size**2  # fp32 RGB images
    n_pool = max(1, min(POOL_BATCHES, args.warmup + args.steps, POOL_MAX_BYTES // batch_bytes))
    if args.model == "transformer":
        cfg = models.GPTConfig(vocab_size=args.vocab_size, seq_len=args.seq_len, d_model=args.d_model,
                               n_layers=args.n_layers, n_heads=args.n_heads)
        model = models.GPT(cfg)
        batches = data.markov_lm_batches(n_batches=n_pool, batch_size=args.batch_size,
                                         seq_len=args.seq_len, vocab_size=args.vocab_size, seed=args.seed,
                                         shard=shard)
        fps = flops.gpt_train_flops(batch_size=args.batch_size, seq_len=args.seq_len, d_model=args.d_model,
                                    n_layers=args.n_layers, vocab_size=args.vocab_size, mlp_ratio=cfg.mlp_ratio)
    else:
        cfg = models.ResNetConfig(num_classes=args.num_classes, image_size=args.image_size,
                                  width=args.width, blocks=list(args.blocks))
        model = models.ResNet(cfg)
        batches = data.pattern_image_batches(n_batches=n_pool, batch_size=args.batch_size,
                                             image_size=args.image_size, in_channels=cfg.in_channels,
                                             num_classes=args.num_classes, seed=args.seed, shard=shard)
        fps = flops.resnet_train_flops(batch_size=args.batch_size, image_size=args.image_size,
                                       in_channels=cfg.in_channels, width=args.width, blocks=list(args.blocks),
                                       num_classes=args.num_classes, imagenet_stem=cfg.imagenet_stem)
    model = model.to(device)
    fmt = torch.preserve_format
    if args.model == "cnn" and device.type == "cuda":
        fmt = torch.channels_last  # what cuDNN's tensor-core convolutions want
        model = model.to(memory_format=fmt)
    batches = [(x.to(device, memory_format=fmt) if x.dim() == 4 else x.to(device), y.to(device))
               for x, y in batches]
    return model, batches, fps


def make_optimizer(torch, model, lr: float, device):
    # Weight decay on matrices/filters only (not norms, biases); fused AdamW on CUDA: one kernel.
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}]
    kwargs = {"fused": True} if device.type == "cuda" else {"foreach": True}
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.95), **kwargs)


def run(args, t_start: float) -> dict:
    import torch

    if __package__:
        from . import data, distributed, flops, models, peak
    else:  # run as `python train.py`: this file's directory is sys.path[0]
        import data
        import distributed
        import flops
        import models
        import peak

    ctx = distributed.from_env()
    device = resolve_device(torch, args.device)
    if ctx.enabled and device.type == "cuda":
        if ctx.local_rank >= torch.cuda.device_count():
            raise UsageError(f"local rank {ctx.local_rank} has no GPU: this node has "
                             f"{torch.cuda.device_count()}; start at most that many processes per node")
        torch.cuda.set_device(ctx.local_rank)
        device = torch.device("cuda", ctx.local_rank)
    distributed.init(torch, ctx, device.type)
    precision = resolve_precision(torch, args.precision, device)
    compiled = resolve_compile(args.compile, device)
    if device.type == "cuda":
        # TF32 for any fp32 matmul/conv unless strict fp32 was asked for.
        strict = precision == "fp32"
        torch.set_float32_matmul_precision("highest" if strict else "high")
        torch.backends.cudnn.allow_tf32 = not strict
        torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick the fastest conv

    torch.manual_seed(args.seed)
    model, batches, flops_per_step = build(args, torch, models, flops, data, device, shard=ctx.rank)
    n_params = models.count_params(model)
    opt = make_optimizer(torch, model, args.lr, device)
    net = model
    if ctx.enabled:  # gradients all-reduced across ranks in backward; parameters broadcast from rank 0
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)
    amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    scaler = torch.amp.GradScaler("cuda") if precision == "fp16" else None
    compile_error = None
    fwd = torch.compile(net) if compiled else net
    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_model_name()
    print(f"train.py: model={args.model} preset={args.preset} params={n_params:,} device={device} "
          f"({device_name}) precision={precision} compiled={compiled}"
          + (f" rank={ctx.rank}/{ctx.world_size} node={ctx.group_rank}" if ctx.enabled else ""), file=sys.stderr)

    def step(i: int):
        x, y = batches[i % len(batches)]
        for g in opt.param_groups:  # short linear LR warm-up keeps the first steps stable
            g["lr"] = args.lr * min(1.0, (i + 1) / LR_WARMUP_STEPS)
        ctx = torch.autocast(device.type, dtype=amp_dtype) if amp_dtype else nullcontext()
        with ctx:
            loss = fwd(x, y)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.unscale_(opt)
        else:
            loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        if scaler is not None:
            scaler.step(opt)
            scaler.update()
        else:
            opt.step()
        opt.zero_grad(set_to_none=True)
        return loss.detach()

    total = args.warmup + args.steps
    losses = []
    timed_ms: list[float] = []
    events = []
    cuda = device.type == "cuda"
    t_log, last_logged = time.perf_counter(), 0
    first_step_s = None
    t_timed = None

    for i in range(total):
        if i == args.warmup:
            if cuda:
                torch.cuda.synchronize(device)
            t_timed = time.perf_counter()
        timed = i >= args.warmup
        if cuda and timed:
            ev0, ev1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            ev0.record()
        t0 = time.perf_counter()
        try:
            loss = step(i)
        except Exception as e:  # compile failures surface on the first call
            if not (i == 0 and compiled and args.compile == "auto"):
                raise
            compile_error = f"{type(e).__name__}: {e}"[:500]
            print(f"train.py: torch.compile failed, falling back to eager: {compile_error}", file=sys.stderr)
            compiled, fwd = False, net
            opt.zero_grad(set_to_none=True)
            loss = step(i)
        if cuda and timed:
            ev1.record()
            events.append((ev0, ev1))
        elif timed:
            timed_ms.append((time.perf_counter() - t0) * 1e3)
        if i == 0:
            if cuda:
                torch.cuda.synchronize(device)
            first_step_s = time.perf_counter() - t0
        losses.append(loss)
        if ctx.is_main and ((i + 1) % args.log_every == 0 or i + 1 == total):
            value = loss.item()  # syncs; only at log points
            now = time.perf_counter()
            sps = (i + 1 - last_logged) * args.batch_size * ctx.world_size / (now - t_log)
            tag = " (warmup)" if not timed else ""
            print(f"step {i + 1}/{total} loss {value:.4f} {sps:.1f} samples/s{tag}", flush=True)
            t_log, last_logged = now, i + 1

    if cuda:
        torch.cuda.synchronize(device)
        timed_ms = [a.elapsed_time(b) for a, b in events]
    timed_wall_s = time.perf_counter() - t_timed
    # The loss of the global batch: every rank's loss on its shard, averaged.
    loss_values = distributed.mean_across_ranks(torch, ctx, torch.stack(losses).float()).cpu().tolist()
    checksums = distributed.gather(torch, ctx, distributed.param_checksum(model))
    per_rank = distributed.gather(torch, ctx, {
        **distributed.rank_info(ctx), "step_time_ms": statistics.median(timed_ms),
        "step_time_ms_p90": _p90(timed_ms), "step_time_ms_mean": statistics.fmean(timed_ms),
        "timed_wall_s": timed_wall_s, "step_times_ms": timed_ms})
    # Every rank leaves the process group together, right after its last collective: a rank that
    # tore gloo down while rank 0 still held its pairs open was seen to abort in the teardown.
    distributed.barrier(torch, ctx)
    distributed.shutdown(torch, ctx)
    if not ctx.is_main:
        return None

    world = ctx.world_size
    # A synchronous data-parallel step lasts as long as its slowest rank.
    step_ms = [max(r["step_times_ms"][k] for r in per_rank) for k in range(len(timed_ms))]
    median_ms = statistics.median(step_ms)
    p90_ms = _p90(step_ms)
    timed_wall_s = max(r["timed_wall_s"] for r in per_rank)
    samples_per_s = args.batch_size * world / (median_ms / 1e3)
    achieved = flops_per_step * world / (median_ms / 1e3) / 1e12
    gpu_peak = flops.peak_tflops(device_name, precision) if cuda else None
    peak_total = gpu_peak * world if gpu_peak else None
    cpu_peak = None
    of_measured_peak = None
    if not cuda:
        # Processes on one node share its cores: the node's peak is what one process measures.
        nodes = len({r["node"] for r in per_rank})
        cpu_peak = peak.cpu_peak(torch, device_name, args.peak_cache)
        key = "bf16" if precision == "bf16" else "fp32"
        of_measured_peak = achieved / (cpu_peak[key] * nodes) if cpu_peak.get(key) else None
    n_hist = min(20, total)
    hist_idx = sorted({round(k * (total - 1) / max(1, n_hist - 1)) for k in range(n_hist)})

    metrics = {
        "model": args.model,
        "preset": args.preset,
        "device": str(next(model.parameters()).device),
        "device_name": device_name,
        "torch_version": torch.__version__,
        "world_size": world,
        "nodes": len({r["node"] for r in per_rank}),
        "procs_per_node": ctx.local_world_size,
        "distributed_backend": (("nccl" if cuda else "gloo") if ctx.enabled else None),
        "samples_per_s": samples_per_s,
        "tokens_per_s": samples_per_s * args.seq_len if args.model == "transformer" else None,
        "step_time_ms": median_ms,
        "step_time_ms_p90": p90_ms,
        "step_time_ms_mean": statistics.fmean(timed_ms),
        "samples_per_s_wall": args.batch_size * world * args.steps / timed_wall_s,
        "flops_per_step": flops_per_step,
        "flops_convention": "analytic matmul/conv FLOPs, 2 per MAC; fwd+bwd = 3x forward "
                            "(CNN stem 2x: no input grad); full TxT attention",
        "achieved_tflops": achieved,
        "peak_tflops": peak_total,
        "mfu": achieved / peak_total if peak_total else None,
        "measured_peak_tflops": ({k: cpu_peak[k] for k in ("fp32", "bf16")} if cpu_peak else None),
        "measured_peak_method": cpu_peak["method"] if cpu_peak else None,
        "fraction_of_measured_peak": of_measured_peak,
        "precision": precision,
        "compiled": compiled,
        "compile_error": compile_error,
        "steps": args.steps,
        "warmup_steps": args.warmup,
        "batch_size": args.batch_size,
        "global_batch_size": args.batch_size * world,
        "seq_len": args.seq_len if args.model == "transformer" else None,
        "config": ({"vocab_size": args.vocab_size, "d_model": args.d_model, "n_layers": args.n_layers,
                    "n_heads": args.n_heads} if args.model == "transformer" else
                   {"image_size": args.image_size, "width": args.width, "blocks": list(args.blocks),
                    "num_classes": args.num_classes}),
        "initial_loss": loss_values[0],
        "final_loss": loss_values[-1],
        "loss_history": [{"step": k + 1, "loss": loss_values[k]} for k in hist_idx],
        "first_step_s": first_step_s,
        "timed_wall_s": timed_wall_s,
        "params": n_params,
        "lr": args.lr,
        "seed": args.seed,
        "max_memory_gb": torch.cuda.max_memory_allocated(device) / 2**30 if cuda else None,
        "host": host_facts(torch),
        "ranks": [{k: v for k, v in r.items() if k != "step_times_ms"} for r in per_rank],
        "param_checksums": checksums,
        "param_checksums_equal": len(set(checksums)) == 1,
    }
    metrics["wall_s"] = time.perf_counter() - t_start
    return metrics


def _p90(values: list[float]) -> float:
    return sorted(values)[min(len(values) - 1, int(round(0.9 * (len(values) - 1))))]


def write_json(path: str, obj: dict) -> None:
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)  # readers never see a half-written file


def main(argv: list[str] | None = None) -> int:
    # As a script, wall time counts from interpreter start-up (incl. the torch import).
    t_start = _T_START if __name__ == "__main__" else time.perf_counter()
    args = resolve_args(argv)  # exits 2 on bad arguments, before the slow torch import
    try:
        metrics = run(args, t_start)
    except UsageError as e:
        print(f"train.py: error: {e}", file=sys.stderr)
        return 2
    except Exception as e:
        if type(e).__name__ != "OutOfMemoryError":
            raise
        print(f"train.py: error: out of memory with --batch-size {args.batch_size}; try a smaller "
              f"batch or preset ({str(e).splitlines()[0]})", file=sys.stderr)
        return 1
    if metrics is None:  # a rank other than 0: rank 0 writes the metrics
        return 0
    write_json(args.out, metrics)
    print(f"train.py: {metrics['samples_per_s']:.1f} samples/s, {metrics['step_time_ms']:.1f} ms/step, "
          f"{metrics['achieved_tflops']:.3f} TFLOP/s -> {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
