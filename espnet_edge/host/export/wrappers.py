"""Stages fused into the exported graph: normalisation in front (--fuse-pre), argmax behind (--fuse-post)."""

import torch
import torch.nn as nn


class FusedPreprocess(nn.Module):
    """NHWC float32 pixels 0..255 (checkpoint channel order, already resized) -> normalised NCHW.

    ``x = (x * scale - mean) / std / divide`` folded into one per-channel multiply-add."""

    def __init__(self, net, spec):
        super().__init__()
        self.net = net
        gain, offset = spec.affine()
        self.register_buffer("gain", torch.tensor(gain, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("offset", torch.tensor(offset, dtype=torch.float32).view(1, 3, 1, 1))

    def forward(self, pixels):
        return self.net(pixels.permute(0, 3, 1, 2) * self.gain + self.offset)


class FusedArgmax(nn.Module):
    """Logits -> class map [N, H, W] int32 (TensorRT 8.2 has no INT64 or UINT8 bindings)."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return torch.argmax(self.net(x), dim=1).to(torch.int32)


def wrap(net, spec, fuse_pre=False, fuse_post=False):
    if fuse_post:
        net = FusedArgmax(net)
    if fuse_pre:
        net = FusedPreprocess(net, spec)
    return net.eval()
