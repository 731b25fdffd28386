"""ESPNetv2 semantic segmentation (Mehta et al., CVPR 2019), as in sacmehta/EdgeNets.

Encoder: EESP units (grouped 1x1 reduce, K depth-wise dilated 3x3 branches with hierarchical
feature fusion, grouped 1x1 expand), strided EESP down-samplers with input reinforcement.
Decoder: efficient pyramid pooling (EPP) at each level, merged with projected encoder features.
Attribute names follow the authors' code so their checkpoints load with ``strict=True``;
batch norms use PyTorch's default eps (1e-5) as theirs do.

``pyramid_pool`` is the ONE place that calls ``F.adaptive_avg_pool2d`` for the pyramid pooling;
the ONNX exporter swaps it (``espnetv2.pyramid_pool = ...``) for an export-friendly equivalent.
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from espnet_edge.host.models.registry import register_family

# channels per level for each width scale s (authors' espnetv2_config.sc_ch_dict, levels 1-4)
WIDTHS = {0.5: (16, 32, 64, 128), 1.0: (32, 64, 128, 256), 1.25: (32, 80, 160, 320),
          1.5: (32, 96, 192, 384), 2.0: (32, 128, 256, 512)}
REPEATS = (3, 7)  # EESP units after the level-3 and level-4 down-samplers
RECEPTIVE_LIMITS = (13, 11, 9, 7)  # largest effective kernel per spatial level
BRANCHES = 4  # K
REINFORCE_CHANNELS = 3
PYRAMID_SCALES = (2.0, 1.5, 1.0, 0.5, 0.1)
DECODER_BASE = 16  # authors' dec_feat_dict for 'city' and 'pascal'


def pyramid_pool(x, size):
    """Average-pool ``x`` to spatial ``size`` (h, w) exactly as the authors do."""
    return F.adaptive_avg_pool2d(x, output_size=size)


def upsample_to(x, size):
    return F.interpolate(x, size, mode="bilinear", align_corners=True)


class ConvBNPReLU(nn.Module):
    """Keys: conv, bn, act (EdgeNets ``espnet_utils.CBR``)."""

    def __init__(self, n_in, n_out, kernel, stride=1, groups=1):
        super().__init__()
        self.conv = nn.Conv2d(n_in, n_out, kernel, stride=stride, padding=(kernel - 1) // 2,
                              bias=False, groups=groups)
        self.bn = nn.BatchNorm2d(n_out)
        self.act = nn.PReLU(n_out)

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class ConvBN(nn.Module):
    """Keys: conv, bn (EdgeNets ``espnet_utils.CB``)."""

    def __init__(self, n_in, n_out, kernel, stride=1, groups=1):
        super().__init__()
        self.conv = nn.Conv2d(n_in, n_out, kernel, stride=stride, padding=(kernel - 1) // 2,
                              bias=False, groups=groups)
        self.bn = nn.BatchNorm2d(n_out)

    def forward(self, x):
        return self.bn(self.conv(x))


class BNPReLU(nn.Module):
    """Keys: bn, act (EdgeNets ``espnet_utils.BR``)."""

    def __init__(self, n_out):
        super().__init__()
        self.bn = nn.BatchNorm2d(n_out)
        self.act = nn.PReLU(n_out)

    def forward(self, x):
        return self.act(self.bn(x))


class DilatedConv(nn.Module):
    """Key: conv (EdgeNets ``espnet_utils.CDilated``)."""

    def __init__(self, n_in, n_out, kernel, stride=1, dilation=1, groups=1):
        super().__init__()
        self.conv = nn.Conv2d(n_in, n_out, kernel, stride=stride, padding=(kernel - 1) // 2 * dilation,
                              bias=False, dilation=dilation, groups=groups)

    def forward(self, x):
        return self.conv(x)


class SeqConvBNPReLU(nn.Module):
    """Keys: cbr.0 (conv), cbr.1 (bn), cbr.2 (act) (EdgeNets ``cnn_utils.CBR``)."""

    def __init__(self, n_in, n_out, kernel, stride=1, groups=1):
        super().__init__()
        self.cbr = nn.Sequential(
            nn.Conv2d(n_in, n_out, kernel, stride=stride, padding=(kernel - 1) // 2, bias=False,
                      groups=groups),
            nn.BatchNorm2d(n_out), nn.PReLU(n_out))

    def forward(self, x):
        return self.cbr(x)


class SeqBNPReLU(nn.Module):
    """Keys: br.0 (bn), br.1 (act) (EdgeNets ``cnn_utils.BR``)."""

    def __init__(self, n_out):
        super().__init__()
        self.br = nn.Sequential(nn.BatchNorm2d(n_out), nn.PReLU(n_out))

    def forward(self, x):
        return self.br(x)


class ChannelShuffle(nn.Module):
    def __init__(self, groups):
        super().__init__()
        self.groups = groups

    def forward(self, x):
        n, c, h, w = x.shape
        x = x.view(n, self.groups, c // self.groups, h, w).transpose(1, 2).contiguous()
        return x.view(n, c, h, w)


def branch_dilations(k, receptive_limit):
    """Dilation of each of the K depth-wise 3x3 branches, smallest receptive field first.

    Branch i would have an effective kernel 3 + 2i; past the limit it falls back to 3 (dilation 1)."""
    kernels = sorted(3 + 2 * i if 3 + 2 * i <= receptive_limit else 3 for i in range(k))
    return [(size - 1) // 2 for size in kernels]


class EESP(nn.Module):
    """Extremely efficient spatial pyramid unit. With stride 2 (inside a down-sampler) it returns
    the expanded features without residual or activation."""

    def __init__(self, n_in, n_out, stride=1, k=BRANCHES, receptive_limit=7, strided_output=False):
        super().__init__()
        n = n_out // k
        if n * k != n_out:
            raise ValueError("EESP output width {} is not divisible by K={}".format(n_out, k))
        self.stride = stride
        self.strided_output = strided_output
        self.proj_1x1 = ConvBNPReLU(n_in, n, 1, groups=k)
        self.spp_dw = nn.ModuleList([DilatedConv(n, n, 3, stride, d, groups=n)
                                     for d in branch_dilations(k, receptive_limit)])
        self.conv_1x1_exp = ConvBN(n_out, n_out, 1, groups=k)
        self.br_after_cat = BNPReLU(n_out)
        self.module_act = nn.PReLU(n_out)

    def forward(self, x):
        reduced = self.proj_1x1(x)
        outputs = [self.spp_dw[0](reduced)]
        for branch in self.spp_dw[1:]:
            outputs.append(branch(reduced) + outputs[-1])  # hierarchical feature fusion
        expanded = self.conv_1x1_exp(self.br_after_cat(torch.cat(outputs, 1)))
        if self.strided_output:
            return expanded
        if expanded.shape == x.shape:
            expanded = expanded + x
        return self.module_act(expanded)


class StridedEESP(nn.Module):
    """Down-sampler: [avg-pool(x), strided EESP(x)] concatenated, plus (input reinforcement) the
    image average-pooled down to the same size and projected; then PReLU. Authors' ``DownSampler``."""

    def __init__(self, n_in, n_out, k=BRANCHES, receptive_limit=9, reinforce=True):
        super().__init__()
        self.eesp = EESP(n_in, n_out - n_in, stride=2, k=k, receptive_limit=receptive_limit,
                         strided_output=True)
        self.avg = nn.AvgPool2d(kernel_size=3, padding=1, stride=2)
        if reinforce:
            self.inp_reinf = nn.Sequential(ConvBNPReLU(REINFORCE_CHANNELS, REINFORCE_CHANNELS, 3),
                                           ConvBN(REINFORCE_CHANNELS, n_out, 1))
        self.act = nn.PReLU(n_out)

    def forward(self, x, image=None):
        pooled = self.avg(x)
        out = torch.cat([pooled, self.eesp(x)], 1)
        if image is not None:
            # halve the image (3x3 average, stride 2) until its height matches, at least once
            for _ in range(32):
                image = F.avg_pool2d(image, kernel_size=3, padding=1, stride=2)
                if image.shape[2] <= pooled.shape[2]:
                    break
            out = out + self.inp_reinf(image)
        return self.act(out)


class EESPNetEncoder(nn.Module):
    """ESPNetv2 levels 1-4 (the ImageNet network without level 5 and classifier). Authors' ``EESPNet``."""

    input_reinforcement = True

    def __init__(self, s=2.0):
        super().__init__()
        if s not in WIDTHS:
            raise ValueError("ESPNetv2 width scale s={} is not one of {}".format(s, sorted(WIDTHS)))
        c = WIDTHS[s]
        self.config = c
        lim = RECEPTIVE_LIMITS
        self.level1 = ConvBNPReLU(3, c[0], 3, 2)
        self.level2_0 = StridedEESP(c[0], c[1], receptive_limit=lim[0])
        self.level3_0 = StridedEESP(c[1], c[2], receptive_limit=lim[1])
        self.level3 = nn.ModuleList([EESP(c[2], c[2], receptive_limit=lim[2]) for _ in range(REPEATS[0])])
        self.level4_0 = StridedEESP(c[2], c[3], receptive_limit=lim[2])
        self.level4 = nn.ModuleList([EESP(c[3], c[3], receptive_limit=lim[3]) for _ in range(REPEATS[1])])

    def forward(self, x):
        """-> features at 1/2, 1/4, 1/8 and 1/16."""
        l1 = self.level1(x)
        l2 = self.level2_0(l1, x)
        l3 = self.level3_0(l2, x)
        for unit in self.level3:
            l3 = unit(l3)
        l4 = self.level4_0(l3, x)
        for unit in self.level4:
            l4 = unit(l4)
        return l1, l2, l3, l4


class EfficientPyramidPool(nn.Module):
    """EPP: project, depth-wise 3x3 at 5 scales (2, 1.5, 1, 0.5, 0.1 of the map; at least 5x5),
    back to the map size, BN+PReLU, channel shuffle, grouped 3x3, 1x1 to ``out_planes``."""

    def __init__(self, in_planes, proj_planes, out_planes, last_layer_br=True):
        super().__init__()
        scales = PYRAMID_SCALES
        self.scales = scales
        self.stages = nn.ModuleList([nn.Conv2d(proj_planes, proj_planes, 3, padding=1, bias=False,
                                               groups=proj_planes) for _ in scales])
        self.projection_layer = SeqConvBNPReLU(in_planes, proj_planes, 1)
        self.merge_layer = nn.Sequential(
            SeqBNPReLU(proj_planes * len(scales)),
            ChannelShuffle(len(scales)),
            SeqConvBNPReLU(proj_planes * len(scales), proj_planes, 3, groups=proj_planes),
            nn.Conv2d(proj_planes, out_planes, 1, bias=not last_layer_br),
        )
        self.last_layer_br = last_layer_br
        if last_layer_br:
            self.br = SeqBNPReLU(out_planes)

    def forward(self, x):
        x = self.projection_layer(x)
        height, width = int(x.shape[2]), int(x.shape[3])
        levels = []
        for scale, stage in zip(self.scales, self.stages):
            size = (max(int(math.ceil(height * scale)), 5), max(int(math.ceil(width * scale)), 5))
            if scale < 1.0:
                levels.append(upsample_to(stage(pyramid_pool(x, size)), (height, width)))
            elif scale > 1.0:
                levels.append(pyramid_pool(stage(upsample_to(x, size)), (height, width)))
            else:
                levels.append(stage(x))
        out = self.merge_layer(torch.cat(levels, 1))
        return self.br(out) if self.last_layer_br else out


class EfficientPWConv(nn.Module):
    """Grouped 3x3 conv gated by a global (squeeze-excitation-like) sigmoid weight per channel."""

    def __init__(self, n_in, n_out):
        super().__init__()
        self.wt_layer = nn.Sequential(nn.AdaptiveAvgPool2d(output_size=1),
                                      nn.Conv2d(n_in, n_out, 1, bias=False), nn.Sigmoid())
        self.expansion_layer = SeqConvBNPReLU(n_in, n_out, 3, groups=math.gcd(n_in, n_out))

    def forward(self, x):
        return self.expansion_layer(x) * self.wt_layer(x)


def _bn_prelu(channels):
    return nn.Sequential(nn.BatchNorm2d(channels), nn.PReLU(channels))


class ESPNetv2Segmentation(nn.Module):
    """ESPNetv2 encoder + EPP decoder; logits at the input resolution (bilinear, align_corners=True)."""

    output_stride = 1

    def __init__(self, s=2.0, classes=20):
        super().__init__()
        self.base_net = EESPNetEncoder(s)
        c = self.base_net.config
        dec = (4 * DECODER_BASE, 3 * DECODER_BASE, 2 * DECODER_BASE, classes)
        proj = min(classes // 2, DECODER_BASE)
        self.bu_dec_l1 = EfficientPyramidPool(c[3], proj, dec[0])
        self.bu_dec_l2 = EfficientPyramidPool(dec[0], proj, dec[1])
        self.bu_dec_l3 = EfficientPyramidPool(dec[1], proj, dec[2])
        self.bu_dec_l4 = EfficientPyramidPool(dec[2], proj, dec[3], last_layer_br=False)
        self.merge_enc_dec_l2 = EfficientPWConv(c[2], dec[0])
        self.merge_enc_dec_l3 = EfficientPWConv(c[1], dec[1])
        self.merge_enc_dec_l4 = EfficientPWConv(c[0], dec[2])
        self.bu_br_l2 = _bn_prelu(dec[0])
        self.bu_br_l3 = _bn_prelu(dec[1])
        self.bu_br_l4 = _bn_prelu(dec[2])

    @staticmethod
    def upsample(x):
        return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)

    def forward(self, x):
        size = (int(x.shape[2]), int(x.shape[3]))
        l1, l2, l3, l4 = self.base_net(x)
        out = self.bu_dec_l1(l4)
        out = self.bu_dec_l2(self.bu_br_l2(self.merge_enc_dec_l2(l3) + self.upsample(out)))
        out = self.bu_dec_l3(self.bu_br_l3(self.merge_enc_dec_l3(l2) + self.upsample(out)))
        out = self.bu_dec_l4(self.bu_br_l4(self.merge_enc_dec_l4(l1) + self.upsample(out)))
        return upsample_to(out, size)


# four stride-2 stages (the level-1 conv, three strided EESP down-samplers): height and width divide by 16
@register_family("espnetv2", size_multiple=16)
def espnetv2(arch):
    return ESPNetv2Segmentation(s=float(arch.get("s", 2.0)), classes=arch.get("num_classes", 20))
