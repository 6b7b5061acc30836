"""torch.distributed for train.py: set up when torchrun started us, gather what rank 0 reports.

torchrun (torch.distributed.run) sets RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE and
GROUP_RANK (the node's index) for every process it starts, and MASTER_ADDR/MASTER_PORT for the
process group's store. A plain `python train.py` has none of them and stays single-process.
Backends: NCCL between GPUs, gloo on CPU.
"""

from __future__ import annotations

import hashlib
import os
import socket
from dataclasses import dataclass


@dataclass
class Context:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1
    group_rank: int = 0  # the node's index
    enabled: bool = False  # a process group exists

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def from_env() -> Context:
    """The launch context torchrun left in the environment (single process when absent)."""
    env = os.environ
    if "RANK" not in env or "WORLD_SIZE" not in env:
        return Context()
    return Context(rank=int(env["RANK"]), world_size=int(env["WORLD_SIZE"]),
                   local_rank=int(env.get("LOCAL_RANK", 0)),
                   local_world_size=int(env.get("LOCAL_WORLD_SIZE", env["WORLD_SIZE"])),
                   group_rank=int(env.get("GROUP_RANK", 0)), enabled=True)


def init(torch, ctx: Context, device_type: str) -> None:
    if not ctx.enabled:
        return
    import datetime

    backend = "nccl" if device_type == "cuda" else "gloo"
    kwargs = {"device_id": torch.device("cuda", ctx.local_rank)} if device_type == "cuda" else {}
    # A peer that dies mid-run must end the others' collectives, not hang them for 30 minutes.
    torch.distributed.init_process_group(backend, timeout=datetime.timedelta(seconds=120), **kwargs)


def shutdown(torch, ctx: Context) -> None:
    if ctx.enabled and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def barrier(torch, ctx: Context) -> None:
    if ctx.enabled:
        torch.distributed.barrier()


def gather(torch, ctx: Context, obj):
    """Every rank's `obj`, in rank order (a one-element list when single-process)."""
    if not ctx.enabled:
        return [obj]
    out = [None] * ctx.world_size
    torch.distributed.all_gather_object(out, obj)
    return out


def mean_across_ranks(torch, ctx: Context, values):
    """Element-wise mean of a float tensor over all ranks (the tensor itself when single)."""
    if not ctx.enabled:
        return values
    total = values.clone()
    torch.distributed.all_reduce(total, op=torch.distributed.ReduceOp.SUM)
    return total / ctx.world_size


def param_checksum(model) -> str:
    """sha256 over every parameter's bytes, in a fixed order: equal on all ranks after DDP."""
    h = hashlib.sha256()
    for name, p in sorted(model.named_parameters(), key=lambda kv: kv[0]):
        h.update(name.encode())
        t = p.detach().float().cpu().contiguous()
        try:
            h.update(t.numpy().tobytes())
        except (ImportError, RuntimeError):  # torch without numpy: slower, same on every rank
            h.update(repr(t.view(-1).tolist()).encode())
    return h.hexdigest()


def rank_info(ctx: Context) -> dict:
    return {"rank": ctx.rank, "local_rank": ctx.local_rank, "node": ctx.group_rank,
            "hostname": socket.gethostname(), "pid": os.getpid()}
