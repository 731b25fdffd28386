"""ESPNet (Mehta et al., ECCV 2018): the ESP module and the networks ESPNet-A, -B, -C and ESPNet.

Attribute names follow the authors' sacmehta/ESPNet ``train/Model.py`` so that their published
state dicts load with ``strict=True``. Batch norms use eps=1e-3 as theirs do. The width divider K
(number of parallel dilated branches, dilation 2^(k-1)) is a parameter; the checkpoints use K=5.
"""

import torch
import torch.nn as nn

from espnet_edge.host.models.registry import register_family

BN_EPS = 1e-3
SIZE_MULTIPLE = 8   # three stride-2 stages: height and width must divide by 8


class ConvBNPReLU(nn.Module):
    """conv (no bias, 'same' padding) -> batch norm -> PReLU. Keys: conv, bn, act."""

    def __init__(self, n_in, n_out, kernel, stride=1):
        super().__init__()
        pad = (kernel - 1) // 2
        self.conv = nn.Conv2d(n_in, n_out, kernel, stride=stride, padding=pad, bias=False)
        self.bn = nn.BatchNorm2d(n_out, eps=BN_EPS)
        self.act = nn.PReLU(n_out)

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class BNPReLU(nn.Module):
    """batch norm -> PReLU. Keys: bn, act."""

    def __init__(self, n_out):
        super().__init__()
        self.bn = nn.BatchNorm2d(n_out, eps=BN_EPS)
        self.act = nn.PReLU(n_out)

    def forward(self, x):
        return self.act(self.bn(x))


class Conv(nn.Module):
    """A bias-free (optionally dilated) convolution with 'same' padding. Key: conv."""

    def __init__(self, n_in, n_out, kernel, stride=1, dilation=1):
        super().__init__()
        pad = (kernel - 1) // 2 * dilation
        self.conv = nn.Conv2d(n_in, n_out, kernel, stride=stride, padding=pad, bias=False,
                              dilation=dilation)

    def forward(self, x):
        return self.conv(x)


def branch_widths(n_out, k):
    """Width of each of the K branches: n = n_out // K, the first takes the remainder."""
    n = n_out // k
    return n, n_out - (k - 1) * n


def branch_names(k):
    """d1, d2, d4, ... d(2^(K-1)): branch k has dilation 2^(k-1)."""
    return ["d{}".format(2 ** i) for i in range(k)]


class _SpatialPyramid(nn.Module):
    """Reduce (c1) -> split into K dilated 3x3 branches -> hierarchical feature fusion -> concat."""

    def __init__(self, n_in, n_out, k, reduce_kernel, stride):
        super().__init__()
        if k < 1 or n_out < k:
            raise ValueError("ESP module needs 1 <= K <= n_out (got K={}, n_out={})".format(k, n_out))
        n, n1 = branch_widths(n_out, k)
        self.c1 = Conv(n_in, n, reduce_kernel, stride)
        self.branches = branch_names(k)
        for i, name in enumerate(self.branches):
            setattr(self, name, Conv(n, n1 if i == 0 else n, 3, 1, 2 ** i))

    def pyramid(self, x):
        reduced = self.c1(x)
        outputs = [getattr(self, self.branches[0])(reduced)]
        fused = None
        for name in self.branches[1:]:
            branch = getattr(self, name)(reduced)
            fused = branch if fused is None else fused + branch  # HFF: add before concat (de-gridding)
            outputs.append(fused)
        return torch.cat(outputs, 1)


class ESPModule(_SpatialPyramid):
    """The ESP module: 1x1 reduce, K dilated branches, HFF, merge, optional residual, BN+PReLU.

    Keys: c1, d1..d(2^(K-1)), bn.bn, bn.act (authors' ``DilatedParllelResidualBlockB``)."""

    def __init__(self, n_in, n_out, k=5, add=True):
        super().__init__(n_in, n_out, k, reduce_kernel=1, stride=1)
        self.bn = BNPReLU(n_out)
        self.add = add

    def forward(self, x):
        merged = self.pyramid(x)
        if self.add:
            merged = x + merged
        return self.bn(merged)


class StridedESP(_SpatialPyramid):
    """Strided ESP module: the reduction is a 3x3 stride-2 convolution; no residual.

    Keys: c1, d1.., bn, act (authors' ``DownSamplerB``)."""

    def __init__(self, n_in, n_out, k=5):
        super().__init__(n_in, n_out, k, reduce_kernel=3, stride=2)
        self.bn = nn.BatchNorm2d(n_out, eps=BN_EPS)
        self.act = nn.PReLU(n_out)

    def forward(self, x):
        return self.act(self.bn(self.pyramid(x)))


class InputProjection(nn.Module):
    """Input reinforcement: the image average-pooled (3x3, stride 2) ``times`` times."""

    def __init__(self, times):
        super().__init__()
        self.pool = nn.ModuleList([nn.AvgPool2d(3, stride=2, padding=1) for _ in range(times)])

    def forward(self, x):
        for pool in self.pool:
            x = pool(x)
        return x


def _run(blocks, x):
    for block in blocks:
        x = block(x)
    return x


class ESPNetA(nn.Module):
    """ESPNet-A (paper Fig. 4a): strided conv, then strided ESP + alpha ESP modules at 1/4 and 1/8,
    a 1x1 classifier. Output at 1/8 of the input. No published checkpoint."""

    output_stride = 8

    def __init__(self, classes=20, p=2, q=3, k=5):
        super().__init__()
        self.level1 = ConvBNPReLU(3, 16, 3, 2)
        self.level2_0 = StridedESP(16, 64, k)
        self.level2 = nn.ModuleList([ESPModule(64, 64, k) for _ in range(p)])
        self.level3_0 = StridedESP(64, 128, k)
        self.level3 = nn.ModuleList([ESPModule(128, 128, k) for _ in range(q)])
        self.classifier = Conv(128, classes, 1)

    def forward(self, x):
        x = _run(self.level2, self.level2_0(self.level1(x)))
        x = _run(self.level3, self.level3_0(x))
        return self.classifier(x)


class ESPNetB(nn.Module):
    """ESPNet-B (paper Fig. 4b): ESPNet-A plus a shortcut that concatenates each level's strided
    ESP output with its last ESP output (BN+PReLU after the concat). Output at 1/8."""

    output_stride = 8

    def __init__(self, classes=20, p=2, q=3, k=5):
        super().__init__()
        self.level1 = ConvBNPReLU(3, 16, 3, 2)
        self.level2_0 = StridedESP(16, 64, k)
        self.level2 = nn.ModuleList([ESPModule(64, 64, k) for _ in range(p)])
        self.b2 = BNPReLU(128)
        self.level3_0 = StridedESP(128, 128, k)
        self.level3 = nn.ModuleList([ESPModule(128, 128, k) for _ in range(q)])
        self.b3 = BNPReLU(256)
        self.classifier = Conv(256, classes, 1)

    def forward(self, x):
        down2 = self.level2_0(self.level1(x))
        level2 = self.b2(torch.cat([_run(self.level2, down2), down2], 1))
        down3 = self.level3_0(level2)
        level3 = self.b3(torch.cat([down3, _run(self.level3, down3)], 1))
        return self.classifier(level3)


class ESPNetC(nn.Module):
    """ESPNet-C (paper Fig. 4c; authors' ``ESPNet_Encoder``): ESPNet-B plus input reinforcement
    (the down-sampled image concatenated at 1/2 and 1/4). Output at 1/8 of the input."""

    output_stride = 8

    def __init__(self, classes=20, p=2, q=3, k=5):
        super().__init__()
        self.level1 = ConvBNPReLU(3, 16, 3, 2)
        self.sample1 = InputProjection(1)
        self.sample2 = InputProjection(2)
        self.b1 = BNPReLU(16 + 3)
        self.level2_0 = StridedESP(16 + 3, 64, k)
        self.level2 = nn.ModuleList([ESPModule(64, 64, k) for _ in range(p)])
        self.b2 = BNPReLU(128 + 3)
        self.level3_0 = StridedESP(128 + 3, 128, k)
        self.level3 = nn.ModuleList([ESPModule(128, 128, k) for _ in range(q)])
        self.b3 = BNPReLU(256)
        self.classifier = Conv(256, classes, 1)

    def features(self, x):
        """-> (level-1 conv output and its concat with the image at 1/2, level-2 concat at 1/4,
        level-3 concat at 1/8)."""
        conv1 = self.level1(x)
        level1 = self.b1(torch.cat([conv1, self.sample1(x)], 1))
        down2 = self.level2_0(level1)
        level2 = self.b2(torch.cat([_run(self.level2, down2), down2, self.sample2(x)], 1))
        down3 = self.level3_0(level2)
        level3 = self.b3(torch.cat([down3, _run(self.level3, down3)], 1))
        return conv1, level1, level2, level3

    def forward(self, x):
        return self.classifier(self.features(x)[3])


class ESPNet(nn.Module):
    """ESPNet: ESPNet-C encoder plus the light-weight decoder (reduce-upsample-merge with
    2x2 stride-2 transposed convolutions). Output at the input resolution.

    The last merge at 1/2 concatenates the decoder output with the level-1 convolution output
    (16 channels: the authors' test/Model.py and the Cityscapes checkpoints) or, with
    ``reinforced_skip=True``, with that output concatenated with the image (19 channels:
    train/Model.py and the CamVid checkpoint)."""

    output_stride = 1

    def __init__(self, classes=20, p=2, q=3, k=5, reinforced_skip=False):
        super().__init__()
        self.encoder = ESPNetC(classes, p, q, k)
        self.reinforced_skip = reinforced_skip
        self.level3_C = Conv(128 + 3, classes, 1)
        self.br = nn.BatchNorm2d(classes, eps=BN_EPS)
        self.conv = ConvBNPReLU((19 if reinforced_skip else 16) + classes, classes, 3)
        self.up_l3 = nn.Sequential(_up2(classes))
        self.combine_l2_l3 = nn.Sequential(BNPReLU(2 * classes),
                                           ESPModule(2 * classes, classes, k, add=False))
        self.up_l2 = nn.Sequential(_up2(classes), BNPReLU(classes))
        self.classifier = _up2(classes)

    def forward(self, x):
        conv1, level1, level2, level3 = self.encoder.features(x)
        coarse = self.up_l3(self.br(self.encoder.classifier(level3)))
        merged = torch.cat([self.level3_C(level2), coarse], 1)
        merged = self.up_l2(self.combine_l2_l3(merged))
        skip = level1 if self.reinforced_skip else conv1
        return self.classifier(self.conv(torch.cat([merged, skip], 1)))


def _up2(channels):
    return nn.ConvTranspose2d(channels, channels, 2, stride=2, padding=0, output_padding=0, bias=False)


def _args(arch):
    """The arch keys every ESPNet variant takes: p, q, k (ESP branches, default 5), num_classes."""
    return dict(classes=arch.get("num_classes", 20), p=arch.get("p", 2), q=arch.get("q", 3), k=arch.get("k", 5))


@register_family("espnet-a", size_multiple=SIZE_MULTIPLE)
def espnet_a(arch):
    return ESPNetA(**_args(arch))


@register_family("espnet-b", size_multiple=SIZE_MULTIPLE)
def espnet_b(arch):
    return ESPNetB(**_args(arch))


@register_family("espnet-c", size_multiple=SIZE_MULTIPLE)
def espnet_c(arch):
    return ESPNetC(**_args(arch))


@register_family("espnet", size_multiple=SIZE_MULTIPLE)
def espnet(arch):
    """``reinforced_skip``: the CamVid checkpoint's 19-channel last skip."""
    return ESPNet(reinforced_skip=bool(arch.get("reinforced_skip")), **_args(arch))
