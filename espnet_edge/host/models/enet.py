"""ENet (Paszke et al. 2016, arXiv:1606.02147) for Cityscapes, laid out as davidtvs/PyTorch-ENet builds it
so that its checkpoints load through ``keymaps.ENET`` (our own code; their module names differ).

As in that implementation: PReLU (one slope per activation) in the encoder, ReLU in the decoder, no convolution biases, a 3x3 transposed convolution as the classifier.

Max-unpooling is not in TensorRT 8.2's ONNX parser, so the 2x2 pooling is written with Reshape/ReduceMax
and the unpooling as "nearest x2 upsampling times a one-hot mask of the first maximum of each window":
exactly what MaxPool2d(2, 2, return_indices=True) + MaxUnpool2d(2) compute (tests/test_comparison_models.py
proves it on inputs with ties).
"""

import torch
import torch.nn as nn

from espnet_edge.host.models import keymaps
from espnet_edge.host.models.registry import register_family


def _act(prelu):
    return nn.PReLU() if prelu else nn.ReLU()


def _windows(x):
    """[N, C, H, W] -> [N, C, H/2, 2, W/2, 2]: the 2x2 pooling windows."""
    n, c, h, w = x.shape
    return x.reshape(n, c, h // 2, 2, w // 2, 2)


def max_pool_with_mask(x):
    """2x2/stride-2 max pooling and, for unpooling, a 0/1 mask marking the first maximum of each window
    in row-major order (where PyTorch's max_pool2d puts its index)."""
    windows = _windows(x)
    pooled = windows.amax(dim=(3, 5), keepdim=True)
    hit = (windows == pooled).to(x.dtype)
    # keep only the first hit in row-major order: (0,0), (0,1), (1,0), (1,1)
    first_row, second_row = hit[:, :, :, 0:1], hit[:, :, :, 1:2]
    a, b = first_row[..., 0:1], first_row[..., 1:2]
    c, d = second_row[..., 0:1], second_row[..., 1:2]
    b = b * (1 - a)
    c = c * (1 - a) * (1 - b)
    d = d * (1 - a) * (1 - b) * (1 - c)
    mask = torch.cat([torch.cat([a, b], dim=5), torch.cat([c, d], dim=5)], dim=3)
    n, ch, h, _one, w, _one2 = pooled.shape
    return pooled.reshape(n, ch, h, w), mask


def max_unpool_with_mask(x, mask):
    """Inverse of max_pool_with_mask: each value goes to its window's first-maximum position."""
    n, c, h, w = x.shape
    spread = x.reshape(n, c, h, 1, w, 1) * mask
    return spread.reshape(n, c, h * 2, w * 2)


class InitialBlock(nn.Module):
    def __init__(self, out_channels=16, prelu=True):
        super().__init__()
        self.conv = nn.Conv2d(3, out_channels - 3, 3, stride=2, padding=1, bias=False)
        self.pool = nn.MaxPool2d(3, stride=2, padding=1)
        self.bn = nn.BatchNorm2d(out_channels)
        self.act = _act(prelu)

    def forward(self, x):
        return self.act(self.bn(torch.cat([self.conv(x), self.pool(x)], 1)))


class Bottleneck(nn.Module):
    """Regular, dilated or asymmetric (k x 1 then 1 x k) bottleneck with an identity shortcut."""

    def __init__(self, channels, dilation=1, asymmetric=0, prelu=True, ratio=4):
        super().__init__()
        inner = channels // ratio
        self.reduce_conv = nn.Conv2d(channels, inner, 1, bias=False)
        self.reduce_bn = nn.BatchNorm2d(inner)
        if asymmetric:
            pad = asymmetric // 2
            self.mid_conv = nn.Conv2d(inner, inner, (asymmetric, 1), padding=(pad, 0), bias=False)
            self.mid_bn = nn.BatchNorm2d(inner)
            self.mid2_conv = nn.Conv2d(inner, inner, (1, asymmetric), padding=(0, pad), bias=False)
            self.mid2_bn = nn.BatchNorm2d(inner)
        else:
            self.mid_conv = nn.Conv2d(inner, inner, 3, padding=dilation, dilation=dilation, bias=False)
            self.mid_bn = nn.BatchNorm2d(inner)
        self.expand_conv = nn.Conv2d(inner, channels, 1, bias=False)
        self.expand_bn = nn.BatchNorm2d(channels)
        self.reduce_act, self.mid_act, self.expand_act, self.out_act = [_act(prelu) for _ in range(4)]
        self.mid2_act = _act(prelu) if asymmetric else None
        self.asymmetric = bool(asymmetric)

    def forward(self, x):
        y = self.reduce_act(self.reduce_bn(self.reduce_conv(x)))
        y = self.mid_act(self.mid_bn(self.mid_conv(y)))
        if self.asymmetric:
            y = self.mid2_act(self.mid2_bn(self.mid2_conv(y)))
        y = self.expand_act(self.expand_bn(self.expand_conv(y)))
        return self.out_act(x + y)


class DownBottleneck(nn.Module):
    """Halves the resolution; returns the output and the pooling mask for the matching UpBottleneck."""

    def __init__(self, in_channels, out_channels, prelu=True, ratio=4):
        super().__init__()
        inner = in_channels // ratio
        self.reduce_conv = nn.Conv2d(in_channels, inner, 2, stride=2, bias=False)
        self.reduce_bn = nn.BatchNorm2d(inner)
        self.mid_conv = nn.Conv2d(inner, inner, 3, padding=1, bias=False)
        self.mid_bn = nn.BatchNorm2d(inner)
        self.expand_conv = nn.Conv2d(inner, out_channels, 1, bias=False)
        self.expand_bn = nn.BatchNorm2d(out_channels)
        self.reduce_act, self.mid_act, self.expand_act, self.out_act = [_act(prelu) for _ in range(4)]

    def forward(self, x):
        main, mask = max_pool_with_mask(x)
        y = self.reduce_act(self.reduce_bn(self.reduce_conv(x)))
        y = self.mid_act(self.mid_bn(self.mid_conv(y)))
        y = self.expand_act(self.expand_bn(self.expand_conv(y)))
        # zero channels padded onto the shortcut: add to the first channels only
        out = torch.cat([main + y[:, :main.shape[1]], y[:, main.shape[1]:]], 1)
        return self.out_act(out), mask


class UpBottleneck(nn.Module):
    def __init__(self, in_channels, out_channels, prelu=False, ratio=4):
        super().__init__()
        inner = in_channels // ratio
        self.main_conv = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.main_bn = nn.BatchNorm2d(out_channels)
        self.reduce_conv = nn.Conv2d(in_channels, inner, 1, bias=False)
        self.reduce_bn = nn.BatchNorm2d(inner)
        self.up_conv = nn.ConvTranspose2d(inner, inner, 2, stride=2, bias=False)
        self.up_bn = nn.BatchNorm2d(inner)
        self.expand_conv = nn.Conv2d(inner, out_channels, 1, bias=False)
        self.expand_bn = nn.BatchNorm2d(out_channels)
        self.reduce_act, self.up_act, self.out_act = [_act(prelu) for _ in range(3)]

    def forward(self, x, mask):
        main = max_unpool_with_mask(self.main_bn(self.main_conv(x)), mask)
        y = self.reduce_act(self.reduce_bn(self.reduce_conv(x)))
        y = self.up_act(self.up_bn(self.up_conv(y)))
        y = self.expand_bn(self.expand_conv(y))  # no activation before the sum here
        return self.out_act(main + y)


class ENet(nn.Module):
    output_stride = 1

    def __init__(self, classes=20, encoder_prelu=True, decoder_prelu=False):
        super().__init__()
        enc, dec = encoder_prelu, decoder_prelu
        self.initial = InitialBlock(16, enc)
        self.down1 = DownBottleneck(16, 64, enc)
        self.stage1 = nn.Sequential(*[Bottleneck(64, prelu=enc) for _ in range(4)])
        self.down2 = DownBottleneck(64, 128, enc)
        # stage 2 and 3: regular, dilated 2, asymmetric 5, dilated 4, regular, dilated 8, asym. 5, dilated 16
        pattern = [dict(), dict(dilation=2), dict(asymmetric=5), dict(dilation=4), dict(),
                   dict(dilation=8), dict(asymmetric=5), dict(dilation=16)]
        self.stage2 = nn.Sequential(*[Bottleneck(128, prelu=enc, **p) for p in pattern])
        self.stage3 = nn.Sequential(*[Bottleneck(128, prelu=enc, **p) for p in pattern])
        self.up4 = UpBottleneck(128, 64, dec)
        self.stage4 = nn.Sequential(*[Bottleneck(64, prelu=dec) for _ in range(2)])
        self.up5 = UpBottleneck(64, 16, dec)
        self.stage5 = nn.Sequential(Bottleneck(16, prelu=dec))
        self.classifier = nn.ConvTranspose2d(16, classes, 3, stride=2, padding=1, output_padding=1,
                                             bias=False)

    def forward(self, x):
        x = self.initial(x)
        x, mask1 = self.down1(x)
        x, mask2 = self.down2(self.stage1(x))
        x = self.stage3(self.stage2(x))
        x = self.stage4(self.up4(x, mask2))
        x = self.stage5(self.up5(x, mask1))
        return self.classifier(x)


@register_family("enet", size_multiple=8, key_map=keymaps.ENET)   # three 2x2 poolings
def enet(arch):
    return ENet(classes=arch.get("num_classes", 20))
