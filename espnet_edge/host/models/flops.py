"""Count multiply-adds of the convolution layers, as the ESPNet/ESPNetv2 authors report FLOPs.

One multiply-add = one FLOP (the papers' convention; EdgeNets' ``compute_flops`` halves its
2-per-multiply-add count the same way). Counted: every Conv2d and ConvTranspose2d weight
multiply-add; not counted: biases, batch norm, PReLU, pooling, interpolation, additions.
"""

import torch
import torch.nn as nn


def _conv_macs(module, inputs, output):
    kh, kw = module.kernel_size
    per_position = kh * kw * module.in_channels * module.out_channels // module.groups
    if isinstance(module, nn.ConvTranspose2d):
        positions = inputs[0].shape[2] * inputs[0].shape[3]  # each input pixel scatters a kernel
    else:
        positions = output.shape[2] * output.shape[3]
    return per_position * positions * output.shape[0]


def count_macs(net, size):
    """Multiply-adds of one forward pass of ``net`` on a 1x3xHxW input, size = (width, height)."""
    total = [0]
    handles = []

    def hook(module, inputs, output):
        total[0] += _conv_macs(module, inputs, output)

    for module in net.modules():
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
            handles.append(module.register_forward_hook(hook))
    try:
        with torch.inference_mode():
            net(torch.zeros(1, 3, size[1], size[0]))
    finally:
        for handle in handles:
            handle.remove()
    return total[0]


def gflops(net, size):
    """GFLOPs (= giga multiply-adds) at ``size`` (width, height), rounded to 3 decimals."""
    return round(count_macs(net, size) / 1e9, 3)
