"""Synthetic training data with learnable structure, generated from a seed (no downloads).

Data is generated on the CPU with its own torch.Generator, so the same seed gives the same
data on every device, and then moved to the training device once. Training cycles through a
pool of up to 16 pre-built batches (at most ~1 GiB), so the timed loop measures the model, not the data pipeline.

Data-parallel runs give each rank its own shard: the task (Markov chain, class patterns) comes
from `seed` alone, so every rank learns the same thing, and the samples of shard k > 0 come from
their own generator. Shard 0 is exactly the single-process data.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def markov_lm_batches(*, n_batches: int, batch_size: int, seq_len: int, vocab_size: int,
                      seed: int, successors: int = 4, shard: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Token sequences from a fixed random first-order Markov chain.

    Every token can be followed by only `successors` tokens (with random probabilities), so a
    model that learns the transition table drives the loss from ln(vocab) towards the chain's
    entropy (about 1 nat for 4 successors).
    """
    g = torch.Generator().manual_seed(seed)
    k = min(successors, vocab_size)
    # Successor table (V, k); a rare duplicate successor just merges two probabilities.
    nxt = torch.randint(vocab_size, (vocab_size, k), generator=g)
    # Dirichlet(1) transition weights, drawn from g (Gamma(1) == Exponential(1)).
    w = -torch.log(torch.rand(vocab_size, k, generator=g).clamp_min(1e-12))
    probs = w / w.sum(dim=1, keepdim=True)
    cdf = probs.cumsum(dim=1)
    g = _shard_generator(g, seed, shard)

    n = n_batches * batch_size
    seq = torch.empty(n, seq_len + 1, dtype=torch.long)
    seq[:, 0] = torch.randint(vocab_size, (n,), generator=g)
    u = torch.rand(n, seq_len, generator=g)
    for t in range(seq_len):
        prev = seq[:, t]
        # Inverse-CDF sampling of which successor comes next, vectorised over sequences.
        choice = (u[:, t : t + 1] > cdf[prev]).sum(dim=1).clamp_max(k - 1)
        seq[:, t + 1] = nxt[prev, choice]
    batches = []
    for i in range(n_batches):
        s = seq[i * batch_size : (i + 1) * batch_size]
        batches.append((s[:, :-1].contiguous(), s[:, 1:].contiguous()))
    return batches


def pattern_image_batches(*, n_batches: int, batch_size: int, image_size: int, in_channels: int,
                          num_classes: int, seed: int, noise: float = 2.0, shard: int = 0
                          ) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Images = a class-specific smooth random pattern * random contrast + Gaussian noise.

    The patterns are low-frequency (upsampled from 4x4), so a CNN separates classes quickly
    while the noise keeps the task from being trivial at the first step.
    """
    g = torch.Generator().manual_seed(seed)
    low = torch.randn(num_classes, in_channels, 4, 4, generator=g)
    templates = F.interpolate(low, size=(image_size, image_size), mode="bilinear", align_corners=False)
    templates = templates / templates.flatten(1).std(dim=1).view(-1, 1, 1, 1)
    g = _shard_generator(g, seed, shard)
    batches = []
    for _ in range(n_batches):
        y = torch.randint(num_classes, (batch_size,), generator=g)
        contrast = 0.5 + torch.rand(batch_size, 1, 1, 1, generator=g)
        x = templates[y] * contrast + noise * torch.randn(
            batch_size, in_channels, image_size, image_size, generator=g)
        batches.append((x, y))
    return batches


def _shard_generator(g: torch.Generator, seed: int, shard: int) -> torch.Generator:
    """Shard 0 keeps drawing from `g`; shard k draws its samples from a generator of its own."""
    if shard == 0:
        return g
    return torch.Generator().manual_seed(seed * 1_000_003 + shard)
