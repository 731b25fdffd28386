"""ERFNet (Romera et al., T-ITS 2017) for Cityscapes, laid out as Eromera/erfnet_pytorch builds it so that
its checkpoints load through ``keymaps.ERFNET`` (our own code and module names).

Factorised residual blocks (3x1 then 1x3, twice; the second pair dilated), batch norm with eps 1e-3 as
the authors train it. The encoder's 1x1 "output_conv" of the authors' code is used only when the encoder
is trained alone; the full network never runs it, so it is not part of this module.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

from espnet_edge.host.models import keymaps
from espnet_edge.host.models.registry import register_family

BN_EPS = 1e-3


class Downsampler(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels - in_channels, 3, stride=2, padding=1)
        self.pool = nn.MaxPool2d(2, stride=2)
        self.bn = nn.BatchNorm2d(out_channels, eps=BN_EPS)

    def forward(self, x):
        return F.relu(self.bn(torch.cat([self.conv(x), self.pool(x)], 1)))


class NonBottleneck1D(nn.Module):
    def __init__(self, channels, dilation=1):
        super().__init__()
        d = dilation
        self.conv_v1 = nn.Conv2d(channels, channels, (3, 1), padding=(1, 0))
        self.conv_h1 = nn.Conv2d(channels, channels, (1, 3), padding=(0, 1))
        self.bn1 = nn.BatchNorm2d(channels, eps=BN_EPS)
        self.conv_v2 = nn.Conv2d(channels, channels, (3, 1), padding=(d, 0), dilation=(d, 1))
        self.conv_h2 = nn.Conv2d(channels, channels, (1, 3), padding=(0, d), dilation=(1, d))
        self.bn2 = nn.BatchNorm2d(channels, eps=BN_EPS)

    def forward(self, x):
        y = F.relu(self.bn1(self.conv_h1(F.relu(self.conv_v1(x)))))
        y = self.bn2(self.conv_h2(F.relu(self.conv_v2(y))))
        return F.relu(y + x)


class Upsampler(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.conv = nn.ConvTranspose2d(in_channels, out_channels, 3, stride=2, padding=1, output_padding=1)
        self.bn = nn.BatchNorm2d(out_channels, eps=BN_EPS)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class ERFNet(nn.Module):
    output_stride = 1

    def __init__(self, classes=20):
        super().__init__()
        self.stem = Downsampler(3, 16)
        layers = [Downsampler(16, 64)] + [NonBottleneck1D(64) for _ in range(5)] + [Downsampler(64, 128)]
        for _ in range(2):
            layers += [NonBottleneck1D(128, d) for d in (2, 4, 8, 16)]
        self.encoder = nn.Sequential(*layers)
        self.decoder = nn.Sequential(Upsampler(128, 64), NonBottleneck1D(64), NonBottleneck1D(64),
                                     Upsampler(64, 16), NonBottleneck1D(16), NonBottleneck1D(16))
        self.head = nn.ConvTranspose2d(16, classes, 2, stride=2)

    def forward(self, x):
        return self.head(self.decoder(self.encoder(self.stem(x))))


@register_family("erfnet", size_multiple=8, key_map=keymaps.ERFNET)   # three down-samplers
def erfnet(arch):
    return ERFNet(classes=arch.get("num_classes", 20))
