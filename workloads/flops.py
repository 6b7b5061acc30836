"""Analytic FLOP counts per training step, and dense peak TFLOP/s of known GPUs.

Convention (the one MFU is usually quoted in, e.g. PaLM's 6*N*tokens):
  * only matmul/conv FLOPs are counted, 2 FLOPs per multiply-accumulate; norms, activations,
    softmax, pooling, embeddings lookups and the optimizer are not counted;
  * a training step costs 3x the forward pass (backward = grad wrt inputs + grad wrt weights,
    each as large as the forward), with one exception: the CNN's stem conv reads the image,
    which needs no gradient, so it costs 2x its forward (with a 7x7 ImageNet stem that is ~4%
    of the step, too much to ignore). The LM's first matmul reads embeddings, which do need
    gradients, so the LM is exactly 3x;
  * attention is counted as the full T x T score matrix (QK^T and PV), not halved for the
    causal mask; this matches torch.utils.flop_counter and the usual MFU convention.
"""

from __future__ import annotations

import re


def gpt_forward_flops(*, batch_size: int, seq_len: int, d_model: int, n_layers: int,
                      vocab_size: int, mlp_ratio: int = 4) -> int:
    tokens = batch_size * seq_len
    d = d_model
    # qkv (d x 3d) + out proj (d x d) + MLP up and down (d x r*d each), per token per layer.
    linear = 2 * tokens * d * d * (3 + 1 + 2 * mlp_ratio)
    # QK^T and PV: each 2 * T * d per token (summed over heads).
    attention = 2 * 2 * tokens * seq_len * d
    lm_head = 2 * tokens * d * vocab_size
    return n_layers * (linear + attention) + lm_head


def gpt_train_flops(**kw) -> int:
    return 3 * gpt_forward_flops(**kw)


def _conv_out(size: int, k: int, stride: int, pad: int) -> int:
    return (size + 2 * pad - k) // stride + 1


def resnet_forward_flops(*, batch_size: int, image_size: int, in_channels: int, width: int,
                         blocks: list[int], num_classes: int, imagenet_stem: bool) -> int:
    return sum(_resnet_forward_parts(batch_size=batch_size, image_size=image_size, in_channels=in_channels,
                                     width=width, blocks=blocks, num_classes=num_classes,
                                     imagenet_stem=imagenet_stem))


def _resnet_forward_parts(*, batch_size: int, image_size: int, in_channels: int, width: int,
                          blocks: list[int], num_classes: int, imagenet_stem: bool) -> tuple[int, int]:
    """(stem conv FLOPs, everything else) for one forward pass of the batch."""
    def conv(h: int, cin: int, cout: int, k: int, stride: int, pad: int) -> tuple[int, int]:
        ho = _conv_out(h, k, stride, pad)
        return 2 * ho * ho * cout * cin * k * k, ho

    h = image_size
    if imagenet_stem:
        stem, h = conv(h, in_channels, width, 7, 2, 3)
        h = _conv_out(h, 3, 2, 1)  # max-pool: no FLOPs counted
    else:
        stem, h = conv(h, in_channels, width, 3, 1, 1)
    total = 0
    cin = width
    for i, n in enumerate(blocks):
        cout = width * 2**i
        for j in range(n):
            stride = 2 if (i > 0 and j == 0) else 1
            f1, ho = conv(h, cin, cout, 3, stride, 1)
            f2, _ = conv(ho, cout, cout, 3, 1, 1)
            total += f1 + f2
            if stride != 1 or cin != cout:
                fd, _ = conv(h, cin, cout, 1, stride, 0)
                total += fd
            h, cin = ho, cout
    total += 2 * cin * num_classes  # classifier
    return batch_size * stem, batch_size * total


def resnet_train_flops(**kw) -> int:
    stem, rest = _resnet_forward_parts(**kw)
    return 2 * stem + 3 * rest  # the stem computes no gradient for its input (the image)


# Dense (no structured sparsity) peak TFLOP/s from NVIDIA datasheets, per matmul precision.
# "fp32" is plain IEEE fp32 (TF32 off); "tf32" is fp32 tensors with TF32 tensor-core matmuls.
# Matched against torch.cuda.get_device_name() in order, so specific names come first.
_PEAKS: list[tuple[str, dict[str, float]]] = [
    (r"h100.*nvl", {"bf16": 835.0, "fp16": 835.0, "tf32": 418.0, "fp32": 60.0}),
    (r"h100.*pcie", {"bf16": 756.0, "fp16": 756.0, "tf32": 378.0, "fp32": 51.0}),
    (r"h200", {"bf16": 989.0, "fp16": 989.0, "tf32": 494.0, "fp32": 67.0}),
    (r"h100", {"bf16": 989.0, "fp16": 989.0, "tf32": 494.0, "fp32": 67.0}),  # SXM
    (r"a100", {"bf16": 312.0, "fp16": 312.0, "tf32": 156.0, "fp32": 19.5}),
    (r"\ba10\b", {"bf16": 125.0, "fp16": 125.0, "tf32": 62.5, "fp32": 31.2}),
    (r"v100", {"fp16": 125.0, "fp32": 15.7}),
    (r"\bt4\b", {"fp16": 65.0, "fp32": 8.1}),
]


def peak_tflops(device_name: str, precision: str) -> float | None:
    """Dense peak for this GPU at this precision, or None if the GPU or precision is unknown."""
    name = device_name.lower()
    for pattern, peaks in _PEAKS:
        if re.search(pattern, name):
            return peaks.get(precision)
    return None
