"""Explicit key maps: state dicts of the public PyTorch implementations -> our module names.

Each map is an ordered list of (regex on their key, replacement); the first rule that matches renames
the key, a key no rule matches is reported as unexpected, and ``IGNORED`` lists keys that are
deliberately dropped. Learned from reading (not copying) the implementations named in each zoo entry:
  davidtvs/PyTorch-ENet models/enet.py                    @ e17d404e2f649a3476eabe39f8a05e5eb77c55fd
  Eromera/erfnet_pytorch train/erfnet.py                  @ d4a46faf9e465286c89ebd9c44bc929b2d213fb3
  VainF/DeepLabV3Plus-Pytorch network/{_deeplab,modeling}.py, network/backbone/{mobilenetv2,resnet}.py
                                                          @ 4e1087de98bc49d55b9239ae92810ef7368660db
tests/data/public_state_dicts.json holds every key and shape of those implementations' state dicts.
"""

import re

from espnet_edge.errors import UserError

_ENET_STAGES = [
    (r"^initial_block\.main_branch\.", "initial.conv."),
    (r"^initial_block\.batch_norm\.", "initial.bn."),
    (r"^initial_block\.out_(?:prelu|activation)\.", "initial.act."),
    (r"^downsample1_0\.", "down1."),
    (r"^downsample2_0\.", "down2."),
    (r"^upsample4_0\.", "up4."),
    (r"^upsample5_0\.", "up5."),
    (r"^transposed_conv\.", "classifier."),
]
# block internals: their Sequential indices -> our names. Their current code has one PReLU per
# activation ("out_activation"); older revisions shared one per block ("out_prelu"), whose checkpoints
# repeat the same slope under every index and load the same way.
_ENET_BLOCK = [
    (r"\.ext_conv1\.0\.", ".reduce_conv."), (r"\.ext_conv1\.1\.", ".reduce_bn."),
    (r"\.ext_conv1\.2\.", ".reduce_act."),
    (r"\.ext_conv2\.0\.", ".mid_conv."), (r"\.ext_conv2\.1\.", ".mid_bn."), (r"\.ext_conv2\.2\.", ".mid_act."),
    (r"\.ext_conv2\.3\.", ".mid2_conv."), (r"\.ext_conv2\.4\.", ".mid2_bn."),
    (r"\.ext_conv2\.5\.", ".mid2_act."),
    (r"\.ext_conv3\.0\.", ".expand_conv."), (r"\.ext_conv3\.1\.", ".expand_bn."),
    (r"\.ext_conv3\.2\.", ".expand_act."),
    (r"\.out_(?:prelu|activation)\.", ".out_act."),
    (r"\.main_conv1\.0\.", ".main_conv."), (r"\.main_conv1\.1\.", ".main_bn."),
    (r"\.ext_tconv1\.", ".up_conv."), (r"\.ext_tconv1_bnorm\.", ".up_bn."),
    (r"\.ext_tconv1_activation\.", ".up_act."),
]


def _enet_key(key):
    for pattern, repl in _ENET_STAGES:
        if re.match(pattern, key):
            key = re.sub(pattern, repl, key)
            break
    else:
        match = re.match(r"^(?:regular|dilated|asymmetric)(\d)_(\d)\.", key)
        if not match:
            return None
        stage, index = int(match.group(1)), int(match.group(2))
        # stages 1, 2, 4, 5 start at index 1 (index 0 is the down/up block); stage 3 starts at 0
        position = index if stage == 3 else index - 1
        key = "stage{}.{}.".format(stage, position) + key[match.end():]
    if key.startswith(("up4.", "up5.")):
        # the decoder's UpsamplingBottleneck: ext_conv2 is its expansion conv (conv + bn only)
        key = key.replace(".ext_conv2.0.", ".expand_conv.").replace(".ext_conv2.1.", ".expand_bn.")
    for pattern, repl in _ENET_BLOCK:
        key = re.sub(pattern, repl, key, count=1)
    return key


def _erfnet_key(key):
    rules = [
        (r"^encoder\.initial_block\.", "stem."),
        (r"^encoder\.layers\.(\d+)\.", r"encoder.\1."),
        (r"^decoder\.layers\.(\d+)\.", r"decoder.\1."),
        (r"^decoder\.output_conv\.", "head."),
    ]
    for pattern, repl in rules:
        if re.match(pattern, key):
            key = re.sub(pattern, repl, key)
            for theirs, ours in (("conv3x1_1", "conv_v1"), ("conv1x3_1", "conv_h1"),
                                 ("conv3x1_2", "conv_v2"), ("conv1x3_2", "conv_h2")):
                key = key.replace("." + theirs + ".", "." + ours + ".")
            return key
    return None


_DEEPLAB_HEAD = [
    (r"^classifier\.project\.0\.", "head.low_project.conv."),
    (r"^classifier\.project\.1\.", "head.low_project.bn."),
    (r"^classifier\.aspp\.convs\.4\.1\.", "head.aspp.pool.conv."),
    (r"^classifier\.aspp\.convs\.4\.2\.", "head.aspp.pool.bn."),
    (r"^classifier\.aspp\.convs\.([0-3])\.0\.", r"head.aspp.branches.\1.conv."),
    (r"^classifier\.aspp\.convs\.([0-3])\.1\.", r"head.aspp.branches.\1.bn."),
    (r"^classifier\.aspp\.project\.0\.", "head.aspp.project.conv."),
    (r"^classifier\.aspp\.project\.1\.", "head.aspp.project.bn."),
    (r"^classifier\.classifier\.0\.", "head.fuse.conv."),
    (r"^classifier\.classifier\.1\.", "head.fuse.bn."),
    (r"^classifier\.classifier\.3\.", "head.classifier."),
]


def _deeplab_head_key(key):
    for pattern, repl in _DEEPLAB_HEAD:
        if re.match(pattern, key):
            return re.sub(pattern, repl, key)
    return None


def _deeplab_mobilenet_key(key):
    match = re.match(r"^backbone\.(?:low|high)_level_features\.(\d+)\.", key)
    if not match:
        return _deeplab_head_key(key)
    layer, rest = int(match.group(1)), key[match.end():]
    prefix = "backbone.layers.{}.".format(layer)
    if layer == 0:  # ConvBNReLU: 0 conv, 1 bn
        return prefix + {"0": "conv.", "1": "bn."}[rest[0]] + rest[2:] if rest[:1] in "01" else None
    # InvertedResidual.conv: [expand ConvBNReLU,] depthwise ConvBNReLU, project conv, project bn
    names = (["expand"] if layer > 1 else []) + ["depthwise"]  # layer 1 has expansion 1
    sub = re.match(r"^conv\.(\d+)\.(?:(\d+)\.)?", rest)
    if not sub:
        return None
    index, inner, tail = int(sub.group(1)), sub.group(2), rest[sub.end():]
    if index < len(names) and inner in ("0", "1"):
        return prefix + names[index] + (".conv." if inner == "0" else ".bn.") + tail
    if index == len(names) and inner is None:
        return prefix + "project.conv." + tail
    if index == len(names) + 1 and inner is None:
        return prefix + "project.bn." + tail
    return None


def _deeplab_resnet_key(key):
    if key.startswith("backbone."):
        return key  # torchvision's ResNet names, which ours follow
    return _deeplab_head_key(key)


class KeyMap(object):
    def __init__(self, name, source, rename, ignored=()):
        self.name = name
        self.source = source  # the public implementation whose checkpoints this map reads
        self.rename = rename
        self.ignored = tuple(ignored)

    def convert(self, state, expected, what="checkpoint"):
        """Their state dict -> ours. UserError naming missing/unexpected keys or disagreeing copies."""
        out, unexpected = {}, []
        for key, value in state.items():
            if any(re.match(pattern, key) for pattern in self.ignored):
                continue
            ours = self.rename(key)
            if ours is None or ours not in expected:
                unexpected.append(key)
                continue
            if ours in out:
                raise UserError("{}: keys {} map to the same weight {}; it is not a {} checkpoint".format(
                    what, key, ours, self.source))
            out[ours] = value
        ignorable = set(k for k in expected if k.endswith("num_batches_tracked"))
        missing = [k for k in expected if k not in out and k not in ignorable]
        if missing or unexpected:
            raise UserError("{} is not a {} checkpoint of this network: {} missing key(s) ({}), {} "
                            "unexpected key(s) ({}); pass a checkpoint of {}".format(
                                what, self.source, len(missing), _few(missing), len(unexpected),
                                _few(unexpected), self.source))
        return out


def _few(keys, count=3):
    keys = sorted(keys)
    return (", ".join(keys[:count]) + (", ..." if len(keys) > count else "")) if keys else "-"


ENET = KeyMap("enet", "davidtvs/PyTorch-ENet", _enet_key)
ERFNET = KeyMap("erfnet", "Eromera/erfnet_pytorch", _erfnet_key,
                ignored=(r"^encoder\.output_conv\.",))  # encoder-only classifier, unused by the full net
DEEPLAB_MOBILENETV2 = KeyMap("deeplabv3plus-mobilenetv2", "VainF/DeepLabV3Plus-Pytorch",
                             _deeplab_mobilenet_key)
DEEPLAB_RESNET101 = KeyMap("deeplabv3plus-resnet101", "VainF/DeepLabV3Plus-Pytorch", _deeplab_resnet_key)
KEY_MAPS = dict((m.name, m) for m in (ENET, ERFNET, DEEPLAB_MOBILENETV2, DEEPLAB_RESNET101))
