"""eval: metrics by hand, dataset layouts built in tmp from the real Cityscapes frames, and the
real network (torch backend) scored against its own predictions and known corruptions."""

import json
import os

import cv2
import numpy as np
import pytest

from conftest import CITYSCAPES_IMAGES, PHOTOS, run_main
from espnet_edge.apps import metrics
from espnet_edge.apps.datasets import IGNORE, load_labels, open_dataset
from espnet_edge.errors import UserError

MODEL = "espnet-c-q3"
SIZE = (512, 256)
FRAME_SIZE = (1024, 512)
TRAINID_TO_LABELID = {v: k for k, v in metrics.CITYSCAPES_LABELID_TO_TRAINID.items()}


# ---- metrics, by hand ----

def test_iou_by_hand_with_no_class_predictions():
    gt = np.array([[0, 0, 1, 1], [0, 0, 1, 1]])
    pred = np.array([[0, 1, 1, 1], [0, 0, 1, 2]])  # 2 = "no class" (like Cityscapes 19)
    conf = metrics.confusion_matrix(gt, pred, num_gt=2, num_pred=3)
    assert conf.tolist() == [[3, 1, 0], [0, 3, 1]]
    iou = metrics.per_class_iou(conf)
    assert iou[0] == pytest.approx(3 / 4.0)   # TP 3, FN 1, FP 0
    assert iou[1] == pytest.approx(3 / 5.0)   # TP 3, FN 1 (the "no class" pixel), FP 1
    assert metrics.mean_iou(iou) == pytest.approx((0.75 + 0.6) / 2)
    assert metrics.pixel_accuracy(conf) == pytest.approx(6 / 8.0)
    assert metrics.agreement(gt, pred) == pytest.approx(6 / 8.0)


def test_ignore_pixels_and_absent_classes():
    gt = np.array([0, 0, 255, 255, 2])
    pred = np.array([0, 1, 1, 1, 2])
    conf = metrics.confusion_matrix(gt, pred, 3, 3)
    assert conf.sum() == 3  # the two ignored pixels are not counted, whatever was predicted there
    iou = metrics.per_class_iou(conf)
    assert iou.tolist()[0] == pytest.approx(0.5) and iou[1] == 0.0 and iou[2] == 1.0
    conf = metrics.confusion_matrix(np.array([0, 0]), np.array([0, 0]), 3, 3)
    iou = metrics.per_class_iou(conf)
    assert np.isnan(iou[1]) and np.isnan(iou[2]) and metrics.mean_iou(iou) == 1.0
    with pytest.raises(ValueError):
        metrics.confusion_matrix(np.array([3]), np.array([0]), 3, 3)


def test_cityscapes_labelid_table_and_categories():
    lut = metrics.cityscapes_labelid_lut()
    assert lut[7] == 0 and lut[26] == 13 and lut[33] == 18
    assert lut[0] == lut[6] == lut[9] == lut[29] == lut[30] == IGNORE  # void, parking, caravan, trailer
    assert sorted(set(lut[:34]) - {IGNORE}) == list(range(19))
    cats = metrics.CITYSCAPES_TRAINID_TO_CATEGORY
    names = metrics.CITYSCAPES_CATEGORIES
    assert names[cats[0]] == names[cats[1]] == "flat" and names[cats[10]] == "sky"
    assert names[cats[11]] == names[cats[12]] == "human"
    assert [names[cats[i]] for i in (13, 14, 15, 16, 17, 18)] == ["vehicle"] * 6


def test_category_iou_from_category_confusion():
    # car predicted as truck: wrong class, right category; road predicted as "no class" (19)
    gt = np.array([13, 13, 13, 0, 0])
    pred = np.array([13, 14, 14, 0, 19])
    conf = metrics.confusion_matrix(gt, pred, 19, 20)
    iou = metrics.per_class_iou(conf)
    assert iou[13] == pytest.approx(1 / 3.0) and iou[14] == 0.0 and iou[0] == pytest.approx(0.5)
    cat = metrics.group_confusion(conf, metrics.CITYSCAPES_TRAINID_TO_CATEGORY, 7)
    assert cat.shape == (7, 8)
    cat_iou = metrics.per_class_iou(cat)
    assert cat_iou[6] == 1.0             # vehicle: all three car pixels predicted as vehicles
    assert cat_iou[0] == pytest.approx(0.5)  # flat: one road pixel lost to "no class"
    assert metrics.mean_iou(cat_iou) == pytest.approx(0.75)


# ---- layouts (no network) ----

def _write_png(path, array):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    assert cv2.imwrite(path, array)


def _frames():
    names = sorted(os.listdir(CITYSCAPES_IMAGES))
    return [(n[:-len("_leftImg8bit.png")],
             cv2.resize(cv2.imread(os.path.join(CITYSCAPES_IMAGES, n)), FRAME_SIZE, interpolation=cv2.INTER_AREA))
            for n in names]


def make_cityscapes(root, frames, trainid_masks):
    for (stem, frame), mask in zip(frames, trainid_masks):
        label_ids = np.zeros(mask.shape, np.uint8)  # 0 = unlabeled (void)
        for train_id, label_id in TRAINID_TO_LABELID.items():
            label_ids[mask == train_id] = label_id
        city = stem.split("_")[0]
        _write_png(os.path.join(root, "leftImg8bit", "val", city, stem + "_leftImg8bit.png"), frame)
        _write_png(os.path.join(root, "gtFine", "val", city, stem + "_gtFine_labelIds.png"), label_ids)
    return root


def make_masks(root, frames, masks):
    for (stem, frame), mask in zip(frames, masks):
        _write_png(os.path.join(root, "images", stem + ".png"), frame)  # lossless: same prediction
        _write_png(os.path.join(root, "masks", stem + ".png"), mask.astype(np.uint8))
    return root


def make_voc(root, frames, masks, palette_png=False, palette=None, ext=".jpg"):
    from PIL import Image

    ids = []
    for (stem, frame), mask in zip(frames, masks):
        _write_png(os.path.join(root, "JPEGImages", stem + ext), frame)
        path = os.path.join(root, "SegmentationClass", stem + ".png")
        if palette_png:  # the real VOC files: mode "P" PNGs with the VOC palette
            image = Image.fromarray(mask.astype(np.uint8), "P")
            flat = [v for rgb in palette for v in rgb] + [0] * (768 - 3 * len(palette))
            flat[765:768] = [224, 224, 192]
            image.putpalette(flat)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            image.save(path)
        else:
            _write_png(path, mask.astype(np.uint8))
        ids.append(stem)
    os.makedirs(os.path.join(root, "ImageSets", "Segmentation"), exist_ok=True)
    with open(os.path.join(root, "ImageSets", "Segmentation", "val.txt"), "w") as handle:
        handle.write("\n".join(ids) + "\n")
    return root


def test_layouts_detected_and_wrong_layout_explained(tmp_path):
    frames = _frames()[:1]
    mask = np.zeros(frames[0][1].shape[:2], np.uint8)
    assert open_dataset(make_cityscapes(str(tmp_path / "c"), frames, [mask])).format == "cityscapes"
    assert open_dataset(make_masks(str(tmp_path / "m"), frames, [mask])).format == "masks"
    voc = open_dataset(make_voc(str(tmp_path / "v"), frames, [mask]))
    assert voc.format == "voc" and voc.split == "val" and len(voc) == 1
    with pytest.raises(UserError, match="no known dataset layout.*leftImg8bit.*JPEGImages.*images/"):
        open_dataset(str(tmp_path))
    with pytest.raises(UserError, match="not in the voc layout: expected JPEGImages"):
        open_dataset(str(tmp_path / "m"), "voc")
    with pytest.raises(UserError, match="no split 'test'"):
        open_dataset(str(tmp_path / "c"), "cityscapes", "test")
    os.remove(os.path.join(str(tmp_path / "m"), "masks", frames[0][0] + ".png"))
    with pytest.raises(UserError, match="has no mask masks/"):
        open_dataset(str(tmp_path / "m"))
    with pytest.raises(UserError, match="does not exist"):
        open_dataset(str(tmp_path / "nowhere"))


class _Info(object):
    def __init__(self, classes, palette):
        self.classes, self.palette = classes, palette


def test_labels_out_of_range_and_palette_decoding(tmp_path):
    from espnet_edge import zoo
    from espnet_edge.apps.datasets import label_space

    frames = _frames()[:1]
    city = label_space(_Info(zoo.CITYSCAPES_CLASSES, zoo.CITYSCAPES_PALETTE))
    pascal = label_space(_Info(zoo.PASCAL_CLASSES, zoo.PASCAL_PALETTE))
    assert (city.num_eval, city.num_pred, pascal.num_eval) == (19, 20, 21)

    bad = np.zeros(frames[0][1].shape[:2], np.uint8)
    bad[:10, :10] = 40
    ds = open_dataset(make_masks(str(tmp_path / "m"), frames, [bad]))
    with pytest.raises(UserError, match="labels outside the model's classes 0..19 .e.g. 40"):
        load_labels(ds, ds.samples[0][1], city)
    ds = open_dataset(make_cityscapes(str(tmp_path / "c"), frames, [np.zeros_like(bad)]))
    _write_png(ds.samples[0][1], bad + 10)  # 50 is no labelId
    with pytest.raises(UserError, match="labelIds outside 0..33"):
        load_labels(ds, ds.samples[0][1], city)

    voc_mask = np.zeros_like(bad)
    voc_mask[100:200, 100:300] = 15  # person
    voc_mask[99, 100:300] = 255      # boundary
    ds = open_dataset(make_voc(str(tmp_path / "v"), frames, [voc_mask], palette_png=True,
                               palette=zoo.PASCAL_PALETTE))
    assert np.array_equal(load_labels(ds, ds.samples[0][1], pascal), voc_mask)
    colour = np.zeros(bad.shape + (3,), np.uint8)
    colour[0, 0] = (1, 2, 3)
    _write_png(ds.samples[0][1], colour)
    with pytest.raises(UserError, match="not in the palette .e.g. RGB .3, 2, 1."):
        load_labels(ds, ds.samples[0][1], pascal)


# ---- the real network ----

@pytest.fixture(scope="module")
def segmenter():
    from espnet_edge.backends import open_runner
    from espnet_edge.runtime.segmenter import Segmenter

    seg = Segmenter(open_runner(backend="torch", model=MODEL, size=SIZE, threads=1))
    yield seg
    seg.close()


@pytest.fixture(scope="module")
def predictions(segmenter):
    frames = _frames()
    return frames, [segmenter.segment(frame) for _, frame in frames]


def _hand_iou(gt, pred, num_eval):
    """IoU per class by set counting, independent of the confusion-matrix code."""
    valid = gt != IGNORE
    out = {}
    for c in range(num_eval):
        inter = int(((gt == c) & (pred == c) & valid).sum())
        union = int((((gt == c) | (pred == c)) & valid).sum())
        if union:
            out[c] = inter / float(union)
    return out


def test_perfect_and_corrupted_cityscapes(tmp_path, segmenter, predictions):
    from espnet_edge.apps.eval import evaluate

    frames, preds = predictions
    assert len(np.unique(preds[0])) > 3  # a real street scene, several classes
    perfect = open_dataset(make_cityscapes(str(tmp_path / "perfect"), frames, preds))
    result = evaluate(segmenter, perfect, progress=False)
    assert result["images"] == 2 and result["miou"] == 1.0 and result["category_miou"] == 1.0
    assert all(img["agreement"] == 1.0 for img in result["per_image"])

    corrupted = [p.copy() for p in preds]
    corrupted[0][100:300, 200:600] = 13  # a "car" rectangle that the network does not see there
    corrupted[1][:50, :] = 255           # ignored strip (void): must not count at all
    data = open_dataset(make_cityscapes(str(tmp_path / "corrupt"), frames, corrupted))
    result = evaluate(segmenter, data, progress=False)
    gt = np.concatenate([load_labels(data, label, _space(segmenter)).ravel() for _, label in data.samples])
    pred = np.concatenate([p.ravel() for p in preds])
    expected = _hand_iou(gt, pred, 19)
    names = segmenter.info.classes
    for c, value in expected.items():
        assert result["per_class_iou"][names[c]] == pytest.approx(value, abs=1e-6)
    assert result["miou"] == pytest.approx(np.mean(list(expected.values())), abs=1e-6)
    assert result["miou"] < 1.0 and result["per_class_iou"]["car"] < 1.0
    assert result["per_image"][1]["agreement"] == 1.0  # ignore strip only
    assert 0.0 < result["per_image"][0]["agreement"] < 1.0
    assert 0.0 < result["category_miou"] <= 1.0


def _space(segmenter):
    from espnet_edge.apps.datasets import label_space

    return label_space(segmenter.info)


def test_masks_layout_background_is_ignored(tmp_path, segmenter, predictions):
    from espnet_edge.apps.eval import evaluate

    frames, preds = predictions
    data = open_dataset(make_masks(str(tmp_path / "m"), frames, preds))
    result = evaluate(segmenter, data, progress=False)
    assert result["format"] == "masks" and result["miou"] == 1.0
    assert result["no_class_predictions"] == ["background"]


def test_cityscapes_layout_needs_a_cityscapes_model(tmp_path):
    from espnet_edge.apps.eval import evaluate
    from espnet_edge.backends import open_runner
    from espnet_edge.runtime.segmenter import Segmenter

    frames = _frames()[:1]
    data = open_dataset(make_cityscapes(str(tmp_path / "c"), frames, [np.zeros(frames[0][1].shape[:2], np.uint8)]))
    seg = Segmenter(open_runner(backend="torch", model="espnetv2-s0.5-pascal-256", threads=1))
    try:
        with pytest.raises(UserError, match="needs a Cityscapes model"):
            evaluate(seg, data, progress=False)
    finally:
        seg.close()


def test_voc_layout_with_a_pascal_model(tmp_path):
    from espnet_edge.apps.eval import evaluate
    from espnet_edge.backends import open_runner
    from espnet_edge.runtime.segmenter import Segmenter
    from espnet_edge import zoo

    seg = Segmenter(open_runner(backend="torch", model="espnetv2-s0.5-pascal-256", threads=1))
    try:
        frames = [(os.path.splitext(n)[0], cv2.imread(os.path.join(PHOTOS, n))) for n in ("sample1.jpg", "sample2.jpg")]
        preds = [seg.segment(f) for _, f in frames]
        gts = [p.copy() for p in preds]
        gts[0][:20, :] = 255  # VOC boundary/void
        gts[1][10:60, 10:90] = 7
        data = open_dataset(make_voc(str(tmp_path / "VOCdevkit" / "VOC2012"), frames, gts, palette_png=True,
                                     palette=zoo.PASCAL_PALETTE, ext=".png").rsplit(os.sep, 1)[0])
        result = evaluate(seg, data, progress=False)
    finally:
        seg.close()
    gt = np.concatenate([g.ravel() for g in gts])
    expected = _hand_iou(gt, np.concatenate([p.ravel() for p in preds]), 21)
    assert result["miou"] == pytest.approx(np.mean(list(expected.values())), abs=1e-6)
    assert "category_miou" not in result and result["format"] == "voc"


def test_eval_cli_json_and_errors(tmp_path, predictions):
    frames, preds = predictions
    root = make_masks(str(tmp_path / "m"), frames, preds)
    out = tmp_path / "result.json"
    proc = run_main("eval", "--model", MODEL, "--backend", "torch", "--size", "512x256", "--threads", "1",
                    "--data", root, "--json", out)
    assert proc.returncode == 0, proc.stderr
    assert "mIoU 100.00%" in proc.stdout
    data = json.loads(out.read_text())
    assert data["miou"] == 1.0 and len(data["per_image"]) == 2 and len(data["confusion"]) == 19
    proc = run_main("eval", "--model", MODEL, "--backend", "torch", "--data", str(tmp_path), "--format", "voc")
    assert proc.returncode == 2 and "not in the voc layout" in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
