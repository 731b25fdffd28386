"""The model zoo: one entry per published checkpoint, each with its pretrained config (timm-style).

Pure data, no torch: the device side reads it to know classes, palettes and preprocessing.
The host side (``espnet_edge.host.models``) turns ``arch`` into a network.
"""

import difflib

from espnet_edge.errors import UserError

CITYSCAPES_CLASSES = (
    "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign",
    "vegetation", "terrain", "sky", "person", "rider", "car", "truck", "bus", "train",
    "motorcycle", "bicycle", "background",
)
# RGB; index 19 ("background/ignore") is drawn black.
CITYSCAPES_PALETTE = (
    (128, 64, 128), (244, 35, 232), (70, 70, 70), (102, 102, 156), (190, 153, 153),
    (153, 153, 153), (250, 170, 30), (220, 220, 0), (107, 142, 35), (152, 251, 152),
    (70, 130, 180), (220, 20, 60), (255, 0, 0), (0, 0, 142), (0, 0, 70), (0, 60, 100),
    (0, 80, 100), (0, 0, 230), (119, 11, 32), (0, 0, 0),
)

PASCAL_CLASSES = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair",
    "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
    "train", "tvmonitor",
)


def _voc_palette(count):
    palette = []
    for index in range(count):
        red = green = blue = 0
        value = index
        for shift in range(7, -1, -1):
            red |= ((value >> 0) & 1) << shift
            green |= ((value >> 1) & 1) << shift
            blue |= ((value >> 2) & 1) << shift
            value >>= 3
        palette.append((red, green, blue))
    return tuple(palette)


PASCAL_PALETTE = _voc_palette(21)

CAMVID_CLASSES = (
    "sky", "building", "pole", "road", "sidewalk", "tree", "sign symbol", "fence", "car",
    "pedestrian", "bicyclist", "void",
)
CAMVID_PALETTE = (
    (128, 128, 128), (128, 0, 0), (192, 192, 128), (128, 64, 128), (0, 0, 192), (128, 128, 0),
    (192, 128, 128), (64, 64, 128), (64, 0, 128), (64, 64, 0), (0, 128, 192), (0, 0, 0),
)

# Preprocessing specs. Applied to a uint8 image in the file's BGR order as:
#   to channel_order; [resize if resize_first]; x = (x * scale - mean) / std;
#   [resize if not resize_first]; x = x / divide; HWC -> CHW.
# ESPNet (sacmehta/ESPNet test scripts): BGR, normalise, cv2 bilinear resize, then /255.
ESPNET_CITYSCAPES_PREPROCESS = {
    "channel_order": "BGR",
    "resize_first": False,
    "resize": "cv2_bilinear",
    "scale": 1.0,
    "mean": [72.3923111, 82.90893555, 73.15840149],
    "std": [45.3192215, 46.15289307, 44.91483307],
    "divide": 255.0,
}
# ESPNetv2 (sacmehta/EdgeNets): RGB, PIL bilinear resize of the uint8 image, /255, ImageNet mean/std.
ESPNETV2_PREPROCESS = {
    "channel_order": "RGB",
    "resize_first": True,
    "resize": "pil_bilinear",
    "scale": 1.0 / 255.0,
    "mean": [0.485, 0.456, 0.406],
    "std": [0.229, 0.224, 0.225],
    "divide": 1.0,
}

ESPNET_URL = "https://github.com/sacmehta/ESPNet/raw/master/pretrained/{}/{}"
EDGENETS_URL = "https://github.com/sacmehta/EdgeNets/raw/master/model/segmentation/model_zoo/espnetv2/{}"


class ModelEntry(object):
    """One published checkpoint and everything needed to run it."""

    gflops = None  # giga multiply-adds of the conv layers at input_size (filled from _GFLOPS below)

    def __init__(self, name, family, arch, dataset, classes, palette, input_size, preprocess,
                 weights_file, url, sha256, params, published_params_m=None, paper=None,
                 output_stride=1, weights_from=None):
        self.name = name
        self.family = family  # "espnet", "espnet-c" or "espnetv2"
        self.arch = dict(arch)
        self.dataset = dataset
        self.classes = tuple(classes)
        self.palette = tuple(tuple(c) for c in palette)
        self.input_size = tuple(input_size)  # (width, height)
        self.preprocess = dict(preprocess)
        self.weights_file = weights_file  # path relative to a weights root, e.g. espnet/decoder/x.pth
        self.url = url
        self.sha256 = sha256
        self.params = params  # exact trainable parameter count of the published checkpoint
        self.published_params_m = published_params_m  # the paper's figure, in millions
        self.paper = paper
        self.output_stride = output_stride  # raw network output resolution divisor (ESPNet-C: 8)
        # architecture-only entries (no weights_file): the public implementation whose checkpoints
        # --weights loads through a key map; without --weights the network is deterministically initialised
        self.weights_from = weights_from

    @property
    def architecture_only(self):
        return self.weights_file is None

    @property
    def num_classes(self):
        return len(self.classes)

    @property
    def weights_basename(self):
        return self.weights_file.rsplit("/", 1)[-1] if self.weights_file else None

    def __repr__(self):
        return "ModelEntry({!r})".format(self.name)


_REGISTRY = {}
_ALIASES = {"espnet": "espnet-q8", "espnetv2": "espnetv2-s2.0-city-1024"}


def register(entry):
    if entry.name in _REGISTRY:
        raise ValueError("duplicate zoo entry " + entry.name)
    _REGISTRY[entry.name] = entry
    return entry


_ESPNET_SHA = {
    "decoder/espnet_p_2_q_3.pth": "8f3eb198fb15e5da7fa8d258d5f0fc4a4213e1124f415f6fc54d2772d585a7fc",
    "decoder/espnet_p_2_q_5.pth": "0378be45080ca5edfc416e9ba06b04e74ec5e2ec4baf56597f25a894a8593942",
    "decoder/espnet_p_2_q_8.pth": "343b0e77e8545d36113c4f3efbf1ee349256f25c97c9f9d5ddefe45f2f49763e",
    "decoder/espnet_p_2_q_8_camvid.pth": "7d354a257170322086dcd4c1e89a482454cf2c9d30b085e70883878dd59301af",
    "encoder/espnet_p_2_q_3.pth": "5101e9bc90dd2a57d8460e70cdfaa743f76317bf806d2d1c4adb635c8d392e77",
    "encoder/espnet_p_2_q_5.pth": "ec028eb60b08a56583eb9d310f5f4f7c4bc70972009030c25f1414dc48c916d6",
    "encoder/espnet_p_2_q_8.pth": "836f28a2a31bd4fc8997001ab6b620d1f9b7b274a03b32d9f3a95c17a011b438",
}
# Exact trainable parameter counts of the checkpoints; the paper's Table 2 rounds them.
_ESPNET_PARAMS = {
    ("espnet-c", 3): (187529, 0.187), ("espnet-c", 5): (252297, 0.252), ("espnet-c", 8): (349449, 0.349),
    ("espnet", 3): (202649, 0.202), ("espnet", 5): (267417, 0.267), ("espnet", 8): (364569, 0.364),
}

for _family, _folder in (("espnet-c", "encoder"), ("espnet", "decoder")):
    for _q in (3, 5, 8):
        _file = "{}/espnet_p_2_q_{}.pth".format(_folder, _q)
        _count, _published = _ESPNET_PARAMS[(_family, _q)]
        register(ModelEntry(
            name="{}-q{}".format(_family, _q), family=_family,
            arch={"p": 2, "q": _q, "num_classes": 20},
            dataset="cityscapes", classes=CITYSCAPES_CLASSES, palette=CITYSCAPES_PALETTE,
            input_size=(1024, 512), preprocess=ESPNET_CITYSCAPES_PREPROCESS,
            weights_file="espnet/" + _file, url=ESPNET_URL.format(*_file.split("/")),
            sha256=_ESPNET_SHA[_file], params=_count, published_params_m=_published,
            paper="ESPNet (ECCV 2018), Table 2",
            output_stride=8 if _family == "espnet-c" else 1,
        ))

register(ModelEntry(
    name="espnet-q8-camvid", family="espnet",
    # trained with train/Model.py, whose last decoder skip also carries the image (19 channels);
    # 480x360 per the authors' README; their CamVid mean/std were never published (Cityscapes' used)
    arch={"p": 2, "q": 8, "num_classes": 12, "reinforced_skip": True},
    dataset="camvid", classes=CAMVID_CLASSES, palette=CAMVID_PALETTE, input_size=(480, 360),
    preprocess=ESPNET_CITYSCAPES_PREPROCESS,
    weights_file="espnet/decoder/espnet_p_2_q_8_camvid.pth",
    url=ESPNET_URL.format("decoder", "espnet_p_2_q_8_camvid.pth"),
    sha256=_ESPNET_SHA["decoder/espnet_p_2_q_8_camvid.pth"], params=354517,
    paper="ESPNet (ECCV 2018), CamVid",
))

_V2_SHA = {
    "0.5_city_1024x512": "9412a86a30f137540ef945d08da3cb7191448956c56c41a64210dab443a9f65f",
    "0.5_city_512x256": "63e398dec148f63c8ad117497864f99f021926b347fd4ee608036c36041e7f36",
    "0.5_pascal_256x256": "9c7bebecd73c603a7eb2d8833eb2c54d0627e37e731548b7833291873e0a2e67",
    "0.5_pascal_384x384": "3352b32b209e1e6492d1481734f5333876b28d8866f5c1702d01ec70255eb20c",
    "1.0_city_1024x512": "0918c833fed889e32901ce739b1784fdd2b79f95a9aea199a469ca3394dd7a14",
    "1.0_city_512x256": "002121eee40c31c8b74186153878452e02ef834d35f3e4a8801b3a84fdc3ec7d",
    "1.0_pascal_256x256": "276d738e38733c136abf5ee9e8a801f5455b2751078c7c1d52a2b485460264be",
    "1.0_pascal_384x384": "7ce2df106b62661a4e8e30098398d6b96a2a946b9546d2287500379f984301a8",
    "1.5_city_1024x512": "0dbbda9126583d62f73dfdc28a59a30ab4564094ee6d28428b897a4e36c466b4",
    "1.5_city_512x256": "711c76f0f814642953a68f485d64c5584772ca98db3d2d5f68d154749d75be2f",
    "1.5_pascal_256x256": "0a297ec35a29168bef481b2e01a5735122eae5dd10f64c1a02d12f8ae141c727",
    "1.5_pascal_384x384": "75f67549659cb5db6a8323a7595e3ce1bc3cbea7f95731105dec7a6d034b516b",
    "2.0_city_1024x512": "a72d59699801c7ce8e8b89a53af9097eaaa60dc12180ecde86fd700ba1222fe8",
    "2.0_city_512x256": "6b6f26b567c82bb4d6624387f24ed505613edafad19222e1707993fbe0d1d8f6",
    "2.0_pascal_256x256": "e4883abccf8f042d422f2c66d69bd21b7af8d41680335e117eb2ee205f303d32",
    "2.0_pascal_384x384": "bc479586b0ba9254e02589020346931a14d99028ad6bac4817198be6d9e719a6",
}
_V2_PARAMS = {
    ("0.5", "city"): 80342, ("1.0", "city"): 234010, ("1.5", "city"): 468362, ("2.0", "city"): 789242,
    ("0.5", "pascal"): 80353, ("1.0", "pascal"): 234021, ("1.5", "pascal"): 468373, ("2.0", "pascal"): 789253,
}
_V2_SIZES = {"city": ((512, 256), (1024, 512)), "pascal": ((256, 256), (384, 384))}

for _s in ("0.5", "1.0", "1.5", "2.0"):
    for _ds in ("city", "pascal"):
        for _size in _V2_SIZES[_ds]:
            _key = "{}_{}_{}x{}".format(_s, _ds, _size[0], _size[1])
            _file = "espnetv2_s_{}.pth".format(_key)
            _city = _ds == "city"
            register(ModelEntry(
                name="espnetv2-s{}-{}-{}".format(_s, _ds, _size[0]), family="espnetv2",
                arch={"s": float(_s), "num_classes": 20 if _city else 21, "dataset": _ds},
                dataset="cityscapes" if _city else "pascal",
                classes=CITYSCAPES_CLASSES if _city else PASCAL_CLASSES,
                palette=CITYSCAPES_PALETTE if _city else PASCAL_PALETTE,
                input_size=_size, preprocess=ESPNETV2_PREPROCESS,
                weights_file="espnetv2/" + _file, url=EDGENETS_URL.format(_file),
                sha256=_V2_SHA[_key], params=_V2_PARAMS[(_s, _ds)],
                paper="ESPNetv2 (CVPR 2019)",
            ))


# Comparison networks of the ESPNet paper (ENet, ERFNet) and the heavy reference (DeepLabv3+). Their
# authors' weights are not reachable from here: architecture only (see ModelEntry.weights_from).
# Preprocessing of the public implementations: davidtvs/PyTorch-ENet and Eromera/erfnet_pytorch resize
# the PIL image (bilinear) and apply ToTensor only (RGB / 255); VainF/DeepLabV3Plus-Pytorch adds the
# ImageNet mean/std.
TO_TENSOR_PREPROCESS = {
    "channel_order": "RGB", "resize_first": True, "resize": "pil_bilinear", "scale": 1.0 / 255.0,
    "mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0], "divide": 1.0,
}
# davidtvs/PyTorch-ENet data/cityscapes.py: "unlabeled" is class 0, the 19 training classes follow
ENET_CITYSCAPES_CLASSES = ("unlabeled",) + CITYSCAPES_CLASSES[:19]
ENET_CITYSCAPES_PALETTE = ((0, 0, 0),) + CITYSCAPES_PALETTE[:19]

# Exact trainable parameters of the networks as built here (= the public implementations' modules:
# tests/data/public_state_dicts.json); published_params_m from the paper each cites.
register(ModelEntry(
    name="enet-city", family="enet", arch={"num_classes": 20},
    dataset="cityscapes", classes=ENET_CITYSCAPES_CLASSES, palette=ENET_CITYSCAPES_PALETTE,
    input_size=(1024, 512), preprocess=TO_TENSOR_PREPROCESS, weights_file=None, url=None, sha256=None,
    params=351804, published_params_m=0.364, paper="ENet (Paszke et al. 2016); size: ESPNet (ECCV 2018) Table 1",
    weights_from="davidtvs/PyTorch-ENet (save/ENet_Cityscapes/ENet)",
))
register(ModelEntry(
    name="erfnet-city", family="erfnet", arch={"num_classes": 20},
    dataset="cityscapes", classes=CITYSCAPES_CLASSES, palette=CITYSCAPES_PALETTE,
    input_size=(1024, 512), preprocess=TO_TENSOR_PREPROCESS, weights_file=None, url=None, sha256=None,
    params=2064256, published_params_m=2.06, paper="ERFNet (Romera et al. 2017); size: ESPNet (ECCV 2018) Table 1",
    weights_from="Eromera/erfnet_pytorch (trained_models/erfnet_pretrained.pth)",
))
for _backbone, _count in (("mobilenetv2", 5225203), ("resnet101", 58753459)):
    register(ModelEntry(
        name="deeplabv3plus-{}-city".format(_backbone), family="deeplabv3plus",
        arch={"backbone": _backbone, "num_classes": 19, "output_stride": 16},
        dataset="cityscapes", classes=CITYSCAPES_CLASSES[:19], palette=CITYSCAPES_PALETTE[:19],
        input_size=(1024, 512), preprocess=ESPNETV2_PREPROCESS, weights_file=None, url=None, sha256=None,
        params=_count, paper="DeepLabv3+ (Chen et al., ECCV 2018), OS 16",
        weights_from="VainF/DeepLabV3Plus-Pytorch (best_deeplabv3plus_{}_cityscapes_os16.pth)".format(
            "mobilenet" if _backbone == "mobilenetv2" else _backbone),
    ))


def require_weights(entry, weights=None, action="segment"):
    """UserError when ``entry`` is architecture only and no checkpoint was given (its output would be noise)."""
    if entry.architecture_only and not weights:
        raise UserError("{} is architecture only: no trained weights ship with it, so its masks would be "
                        "noise; to {}, pass --weights FILE (a checkpoint of {})".format(
                            entry.name, action, entry.weights_from))


# Giga multiply-adds (one multiply-add = one FLOP, as the ESPNet/ESPNetv2 authors count) of every
# Conv2d/ConvTranspose2d at the entry's input_size; espnet_edge.host.models.flops recomputes them.
_GFLOPS = {
    "espnet-c-q3": 2.159, "espnet-c-q5": 2.684, "espnet-c-q8": 3.470,
    "espnet-q3": 3.399, "espnet-q5": 3.923, "espnet-q8": 4.709, "espnet-q8-camvid": 1.335,
    "espnetv2-s0.5-city-1024": 0.596, "espnetv2-s0.5-city-512": 0.149,
    "espnetv2-s0.5-pascal-256": 0.075, "espnetv2-s0.5-pascal-384": 0.168,
    "espnetv2-s1.0-city-1024": 1.085, "espnetv2-s1.0-city-512": 0.271,
    "espnetv2-s1.0-pascal-256": 0.136, "espnetv2-s1.0-pascal-384": 0.306,
    "espnetv2-s1.5-city-1024": 1.713, "espnetv2-s1.5-city-512": 0.428,
    "espnetv2-s1.5-pascal-256": 0.214, "espnetv2-s1.5-pascal-384": 0.482,
    "espnetv2-s2.0-city-1024": 2.698, "espnetv2-s2.0-city-512": 0.674,
    "espnetv2-s2.0-pascal-256": 0.337, "espnetv2-s2.0-pascal-384": 0.759,
    "enet-city": 4.056, "erfnet-city": 26.613,
    "deeplabv3plus-mobilenetv2-city": 33.526, "deeplabv3plus-resnet101-city": 157.891,
}
for _name, _gflops in _GFLOPS.items():
    _REGISTRY[_name].gflops = _gflops


def list_models():
    return sorted(_REGISTRY)


def aliases():
    return dict(_ALIASES)


def get_model(name):
    """Return the zoo entry for ``name`` (or an alias); UserError with close names otherwise."""
    key = _ALIASES.get(name, name)
    if key in _REGISTRY:
        return _REGISTRY[key]
    choices = list(_REGISTRY) + list(_ALIASES)
    close = difflib.get_close_matches(str(name), choices, n=3, cutoff=0.5)
    hint = "did you mean {}?".format(", ".join(close)) if close else "run `espnet-edge models` for the list"
    raise UserError("unknown model {!r}; {}".format(name, hint))
