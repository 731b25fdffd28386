"""DeepLabv3+ (Chen et al., ECCV 2018, arXiv:1802.02611) at output stride 16, laid out as
VainF/DeepLabV3Plus-Pytorch builds it so that its checkpoints load through ``keymaps`` (our own code).

Encoder: a MobileNetV2 (Sandler et al. 2018) or ResNet-101 backbone whose last stride is replaced by
dilation (OS 16), then ASPP with rates 6, 12, 18 (the paper's rates at OS 16) plus image pooling.
Decoder: the paper's 48-channel 1x1 projection of the stride-4 features, concatenated with the x4
upsampled ASPP output, one 3x3 conv (256) and the classifier, then bilinear upsampling to the input.
As in VainF's code (and unlike the paper's Xception variant) ASPP and decoder use dense 3x3 convs.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

from espnet_edge.host.models import keymaps
from espnet_edge.host.models.registry import register_family

ASPP_RATES_OS16 = (6, 12, 18)  # DeepLabv3+ paper, Sect. 4 / DeepLabv3 paper, Sect. 3.3
LOW_LEVEL_CHANNELS = 48        # DeepLabv3+ paper, Sect. 4.1 (decoder design choices)


class ConvBNAct(nn.Module):
    def __init__(self, in_ch, out_ch, kernel=1, stride=1, padding=0, dilation=1, groups=1, act=nn.ReLU):
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, kernel, stride, padding, dilation, groups, bias=False)
        self.bn = nn.BatchNorm2d(out_ch)
        self.act = act() if act else None

    def forward(self, x):
        x = self.bn(self.conv(x))
        return self.act(x) if self.act else x


# --- MobileNetV2 -------------------------------------------------------------------------------------
# (expansion t, channels c, repeats n, stride s): MobileNetV2 paper, Table 2
MOBILENETV2_SETTING = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                       (6, 160, 3, 2), (6, 320, 1, 1))


class InvertedResidual(nn.Module):
    def __init__(self, in_ch, out_ch, stride, dilation, expansion):
        super().__init__()
        hidden = int(round(in_ch * expansion))
        # VainF pads the block's *input* and runs the 1x1 expansion on the padded map, so the depthwise
        # conv sees relu6(bn(0)) at the border, not zeros; kept for its checkpoints. A bias-free 1x1 conv
        # with padding gives exactly that (conv of zeros is 0) without a Pad node in the graph.
        if expansion != 1:
            self.expand = ConvBNAct(in_ch, hidden, padding=dilation, act=nn.ReLU6)
            self.depthwise = ConvBNAct(hidden, hidden, 3, stride, 0, dilation, groups=hidden, act=nn.ReLU6)
        else:
            self.expand = None
            self.depthwise = ConvBNAct(hidden, hidden, 3, stride, dilation, dilation, groups=hidden, act=nn.ReLU6)
        self.project = ConvBNAct(hidden, out_ch, act=None)
        self.residual = stride == 1 and in_ch == out_ch

    def forward(self, x):
        y = self.expand(x) if self.expand is not None else x
        y = self.project(self.depthwise(y))
        return x + y if self.residual else y


class MobileNetV2Backbone(nn.Module):
    """Layers 0-17 of MobileNetV2 (the 1280-channel last conv and the classifier are not used).
    Returns (stride-4 features with 24 channels, OS-16 features with 320 channels)."""

    low_level_channels, high_level_channels = 24, 320
    low_level_layers = 4  # layers 0-3 give the stride-4 features

    def __init__(self, output_stride=16):
        super().__init__()
        # VainF's first conv has no padding (its ConvBNReLU pads nothing and layer 0 is not an
        # InvertedResidual); kept so that its checkpoints give the same features.
        layers = [ConvBNAct(3, 32, 3, 2, 0, act=nn.ReLU6)]
        stride, dilation, in_ch = 2, 1, 32
        for t, c, n, s in MOBILENETV2_SETTING:
            previous = dilation
            if stride == output_stride:
                first_stride, dilation = 1, dilation * s
            else:
                first_stride, stride = s, stride * s
            for index in range(n):
                if index == 0:
                    layers.append(InvertedResidual(in_ch, c, first_stride, previous, t))
                else:
                    layers.append(InvertedResidual(in_ch, c, 1, dilation, t))
                in_ch = c
        self.layers = nn.Sequential(*layers)

    def forward(self, x):
        low = self.layers[:self.low_level_layers](x)
        return low, self.layers[self.low_level_layers:](low)


# --- ResNet-101 --------------------------------------------------------------------------------------
class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, in_ch, width, stride=1, dilation=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, dilation, dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, width * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(width * 4)
        self.relu = nn.ReLU()
        self.downsample = downsample

    def forward(self, x):
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        shortcut = self.downsample(x) if self.downsample is not None else x
        return self.relu(y + shortcut)


class ResNetBackbone(nn.Module):
    """ResNet-101 (He et al. 2016: 3, 4, 23, 3 bottlenecks) with layer4's stride replaced by dilation 2
    (OS 16), as torchvision's replace_stride_with_dilation=[False, False, True]."""

    low_level_channels, high_level_channels = 256, 2048

    def __init__(self, blocks=(3, 4, 23, 3), output_stride=16):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.in_ch, self.dilation = 64, 1
        dilate = {16: (False, False, True), 8: (False, True, True)}[output_stride]
        self.layer1 = self._layer(64, blocks[0], 1, False)
        self.layer2 = self._layer(128, blocks[1], 2, dilate[0])
        self.layer3 = self._layer(256, blocks[2], 2, dilate[1])
        self.layer4 = self._layer(512, blocks[3], 2, dilate[2])

    def _layer(self, width, count, stride, dilate):
        previous = self.dilation
        if dilate:
            self.dilation *= stride
            stride = 1
        downsample = None
        if stride != 1 or self.in_ch != width * 4:
            downsample = nn.Sequential(nn.Conv2d(self.in_ch, width * 4, 1, stride, bias=False),
                                       nn.BatchNorm2d(width * 4))
        layers = [Bottleneck(self.in_ch, width, stride, previous, downsample)]
        self.in_ch = width * 4
        layers += [Bottleneck(self.in_ch, width, 1, self.dilation) for _ in range(1, count)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        low = self.layer1(x)
        return low, self.layer4(self.layer3(self.layer2(low)))


# --- head --------------------------------------------------------------------------------------------
class ImagePooling(nn.Module):
    def __init__(self, in_ch, out_ch):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.conv = nn.Conv2d(in_ch, out_ch, 1, bias=False)
        self.bn = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU()

    def forward(self, x):
        y = self.relu(self.bn(self.conv(self.pool(x))))
        # bilinear upsampling of a 1x1 map is a broadcast; Expand keeps the graph free of a Resize
        return y.expand(-1, -1, x.shape[2], x.shape[3])


class ASPP(nn.Module):
    def __init__(self, in_ch, rates=ASPP_RATES_OS16, out_ch=256):
        super().__init__()
        self.branches = nn.ModuleList([ConvBNAct(in_ch, out_ch)] +
                                      [ConvBNAct(in_ch, out_ch, 3, 1, r, r) for r in rates])
        self.pool = ImagePooling(in_ch, out_ch)
        self.project = ConvBNAct(out_ch * (len(rates) + 2), out_ch)

    def forward(self, x):
        return self.project(torch.cat([b(x) for b in self.branches] + [self.pool(x)], 1))


class DecoderHead(nn.Module):
    def __init__(self, high_ch, low_ch, classes, rates=ASPP_RATES_OS16):
        super().__init__()
        self.low_project = ConvBNAct(low_ch, LOW_LEVEL_CHANNELS)
        self.aspp = ASPP(high_ch, rates)
        self.fuse = ConvBNAct(LOW_LEVEL_CHANNELS + 256, 256, 3, 1, 1)
        self.classifier = nn.Conv2d(256, classes, 1)

    def forward(self, low, high):
        low = self.low_project(low)
        high = F.interpolate(self.aspp(high), size=low.shape[2:], mode="bilinear", align_corners=False)
        return self.classifier(self.fuse(torch.cat([low, high], 1)))


BACKBONES = {"mobilenetv2": MobileNetV2Backbone, "resnet101": ResNetBackbone}


class DeepLabV3Plus(nn.Module):
    output_stride = 1  # logits come back at the input resolution

    def __init__(self, backbone="mobilenetv2", classes=19, output_stride=16):
        super().__init__()
        if output_stride != 16:
            raise ValueError("only output stride 16 is built (ASPP rates 6, 12, 18)")
        self.backbone = BACKBONES[backbone](output_stride=output_stride)
        self.head = DecoderHead(self.backbone.high_level_channels, self.backbone.low_level_channels, classes)

    def forward(self, x):
        low, high = self.backbone(x)
        return F.interpolate(self.head(low, high), size=x.shape[2:], mode="bilinear", align_corners=False)


def _key_map(arch):
    """VainF's checkpoints name the backbones' modules differently: one key map per backbone."""
    return keymaps.KEY_MAPS["deeplabv3plus-" + arch.get("backbone", "mobilenetv2")]


@register_family("deeplabv3plus", size_multiple=16, key_map=_key_map)   # output stride 16
def deeplabv3plus(arch):
    return DeepLabV3Plus(arch.get("backbone", "mobilenetv2"), arch.get("num_classes", 19),
                         arch.get("output_stride", 16))
