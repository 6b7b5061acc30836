"""Analytic FLOPs per step vs torch.utils.flop_counter on a real forward+backward."""

from __future__ import annotations

import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from workloads import flops, models
from workloads.train import PRESETS


def counted_flops(model, x, y) -> int:
    # The math SDPA backend decomposes attention into bmm ops that FlopCounterMode counts; the
    # CPU flash kernel has no registered FLOP formula and would be silently missed.
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as fc:
        model(x, y).backward()
    return fc.get_total_flops()


def gpt_case(batch, seq, d, layers, heads, vocab, device="cpu"):
    with torch.device(device):
        cfg = models.GPTConfig(vocab_size=vocab, seq_len=seq, d_model=d, n_layers=layers, n_heads=heads)
        model = models.GPT(cfg)
        x = torch.randint(vocab, (batch, seq))
        measured = counted_flops(model, x, x)
    analytic = flops.gpt_train_flops(batch_size=batch, seq_len=seq, d_model=d, n_layers=layers, vocab_size=vocab)
    return analytic, measured


def cnn_case(batch, image, width, blocks, classes=10, device="cpu"):
    with torch.device(device):
        cfg = models.ResNetConfig(num_classes=classes, image_size=image, width=width, blocks=blocks)
        model = models.ResNet(cfg)
        x, y = torch.randn(batch, 3, image, image), torch.randint(classes, (batch,))
        measured = counted_flops(model, x, y)
    analytic = flops.resnet_train_flops(batch_size=batch, image_size=image, in_channels=3, width=width,
                                        blocks=blocks, num_classes=classes, imagenet_stem=cfg.imagenet_stem)
    return analytic, measured


@pytest.mark.parametrize("batch,seq,d,layers,heads,vocab", [
    (4, 32, 64, 2, 2, 128),
    (16, 128, 256, 4, 4, 256),  # the small preset
    (2, 96, 96, 3, 3, 200),  # odd sizes
])
def test_transformer_flops_match_flop_counter(batch, seq, d, layers, heads, vocab):
    analytic, measured = gpt_case(batch, seq, d, layers, heads, vocab)
    assert measured > 0
    assert abs(analytic - measured) / measured < 0.05, (analytic, measured)


@pytest.mark.parametrize("batch,image,width,blocks", [
    (4, 16, 8, [1, 1]),
    (8, 32, 32, [2, 2, 2, 2]),  # the small preset at a smaller batch
    (2, 128, 8, [1, 1, 1, 1]),  # ImageNet stem (7x7/2 conv + max-pool)
    (2, 33, 8, [1, 2, 1]),  # odd image size: exercises the output-size arithmetic
])
def test_cnn_flops_match_flop_counter(batch, image, width, blocks):
    analytic, measured = cnn_case(batch, image, width, blocks)
    assert measured > 0
    assert abs(analytic - measured) / measured < 0.05, (analytic, measured)


def test_large_presets_flops_on_meta_device():
    # The GPU presets are too big to run here, but on the meta device shapes are all that matter.
    g = PRESETS["transformer"]["large"]
    analytic, measured = gpt_case(g["batch_size"], g["seq_len"], g["d_model"], g["n_layers"], g["n_heads"],
                                  g["vocab_size"], device="meta")
    assert abs(analytic - measured) / measured < 0.05
    c = PRESETS["cnn"]["large"]
    blocks = [int(b) for b in c["blocks"].split(",")]
    analytic, measured = cnn_case(c["batch_size"], c["image_size"], c["width"], blocks, c["num_classes"],
                                  device="meta")
    assert abs(analytic - measured) / measured < 0.05


def test_flops_scale_with_batch():
    kw = dict(seq_len=64, d_model=64, n_layers=2, vocab_size=128)
    assert flops.gpt_train_flops(batch_size=8, **kw) == 2 * flops.gpt_train_flops(batch_size=4, **kw)


@pytest.mark.parametrize("name,precision,peak", [
    ("NVIDIA H200", "bf16", 989.0),
    ("NVIDIA H100 80GB HBM3", "bf16", 989.0),
    ("NVIDIA H100 NVL", "bf16", 835.0),
    ("NVIDIA A100-SXM4-80GB", "bf16", 312.0),
    ("NVIDIA A100 80GB PCIe", "fp32", 19.5),
    ("NVIDIA A10", "bf16", 125.0),
    ("Tesla V100-PCIE-16GB", "fp16", 125.0),
    ("Tesla T4", "fp16", 65.0),
    ("Tesla T4", "fp32", 8.1),
    ("Tesla T4", "bf16", None),  # no bf16 on Turing
    ("NVIDIA GeForce RTX 4090", "bf16", None),  # unknown GPU: no MFU rather than a guess
])
def test_peak_table(name, precision, peak):
    assert flops.peak_tflops(name, precision) == peak
