"""eval's conventions and ignore labels: class average and the authors' void-counted IoU by hand, every
format's ignore label, masks' --ignore-index, and when the zoo's published figures are printed beside."""

import json
import os
import shutil

import cv2
import numpy as np
import pytest

from conftest import SHARED, run_cli
from espnet_edge import published, zoo
from espnet_edge.apps import eval as evaluation
from espnet_edge.apps import metrics
from espnet_edge.apps.datasets import FORMATS, IGNORE, IGNORE_LABELS, label_space, load_labels, open_dataset
from espnet_edge.errors import UserError
from espnet_edge.runtime.model_info import ModelInfo

CAMVID = os.path.join(SHARED, "datasets", "camvid")


def test_class_average_and_void_counted_iou_by_hand():
    gt = np.array([[0, 0, 1, 1, 255, 255], [0, 0, 1, 2, 255, 255]])
    pred = np.array([[0, 1, 1, 1, 0, 0], [0, 0, 1, 3, 1, 3]])   # 3 = "no class"
    conf = metrics.confusion_matrix(gt, pred, num_gt=3, num_pred=4)
    void = metrics.void_predictions(gt, pred, num_pred=4)
    assert void.tolist() == [2, 1, 0, 1]
    # recall: class 0 3/4, class 1 3/3, class 2 0/1
    assert metrics.per_class_recall(conf).tolist() == pytest.approx([0.75, 1.0, 0.0])
    assert metrics.class_average(conf) == pytest.approx((0.75 + 1.0 + 0.0) / 3)
    standard = metrics.per_class_iou(conf)
    counted = metrics.per_class_iou(conf, void)
    assert standard.tolist() == pytest.approx([3 / 4.0, 3 / 4.0, 0.0])
    # void pixels predicted 0 (two) and 1 (one) are false positives of 0 and 1; "no class" counts for none
    assert counted.tolist() == pytest.approx([3 / 6.0, 3 / 5.0, 0.0])
    assert metrics.mean_iou(counted) < metrics.mean_iou(standard)


def test_void_counts_per_category():
    conf = metrics.confusion_matrix(np.array([13, 0]), np.array([13, 0]), 19, 20)
    void = metrics.void_predictions(np.array([255, 255, 255]), np.array([14, 1, 19]), 20)
    cats = metrics.group_counts(void, metrics.CITYSCAPES_TRAINID_TO_CATEGORY, 7)
    assert cats.tolist() == [1, 0, 0, 0, 0, 0, 1]   # sidewalk -> flat, truck -> vehicle, 19 dropped
    space = label_space(ModelInfo.from_zoo(zoo.get_model("espnet-q8")))
    standard = evaluation.figures(conf, space, void, count_void=False)
    counted = evaluation.figures(conf, space, void, count_void=True)
    assert standard["category_miou"] == 1.0
    assert counted["per_category_iou"].tolist() == pytest.approx([0.5, np.nan, np.nan, np.nan, np.nan, np.nan, 0.5],
                                                                 nan_ok=True)


def test_every_format_documents_its_ignore_label():
    assert sorted(IGNORE_LABELS) == sorted(FORMATS)
    assert "11 (void)" == IGNORE_LABELS["camvid"] and IGNORE_LABELS["voc"].startswith("255")
    # the Cityscapes void ids are the labelIds with no train ID
    assert IGNORE_LABELS["cityscapes"].startswith("labelIds that are no train ID (void: 0, 1, 2, 3, 4, 5, 6, 9, 10,")
    docs = open(os.path.join(os.path.dirname(os.path.dirname(__file__)), "docs", "demo_eval.md")).read()
    for words in ("--ignore-index", "--count-void", "class average", "void ids"):
        assert words in docs


def _camvid_masks(tmp_path, names=2, void_as=None):
    """CamVid test frames as the masks layout; void (11) rewritten as ``void_as``."""
    root = tmp_path / "masks"
    for folder in ("images", "masks"):
        (root / folder).mkdir(parents=True)
    for name in sorted(os.listdir(os.path.join(CAMVID, "test")))[:names]:
        shutil.copy(os.path.join(CAMVID, "test", name), str(root / "images" / name))
        label = cv2.imread(os.path.join(CAMVID, "testannot", name), cv2.IMREAD_UNCHANGED)
        if void_as is not None:
            label[label == 11] = void_as
        cv2.imwrite(str(root / "masks" / name), label)
    return str(root)


def test_masks_ignore_index(tmp_path):
    space = label_space(ModelInfo.from_zoo(zoo.get_model("espnet-q8-camvid")))
    root = _camvid_masks(tmp_path, names=1, void_as=200)
    with pytest.raises(UserError, match=r"outside the model's classes 0\.\.11 \(e\.g\. 200; 255 = ignore\).*--ignore-index"):
        data = open_dataset(root)
        load_labels(data, data.samples[0][1], space)
    data = open_dataset(root, ignore_index=200)
    labels = load_labels(data, data.samples[0][1], space)
    raw = cv2.imread(data.samples[0][1], cv2.IMREAD_UNCHANGED)
    assert (raw == 200).any() and np.array_equal(labels == IGNORE, raw == 200)
    assert data.ignored.startswith("200 (--ignore-index)")
    with pytest.raises(UserError, match="--ignore-index is for the masks layout; camvid ignores 11 \\(void\\)"):
        open_dataset(CAMVID, ignore_index=11)
    info = ModelInfo.from_zoo(zoo.get_model("espnet-q8-camvid"))
    with pytest.raises(UserError, match="--ignore-index 3 is class 'road' of espnet-q8-camvid"):
        evaluation.check_model_fits(info, open_dataset(root, ignore_index=3))


def test_published_figures_match_data_set_split_size_and_checkpoint():
    entry = zoo.get_model("espnet-q8")
    assert [f.describe() for f in published.matching(entry.published, "cityscapes", "val", (1024, 512))] == \
        ["val mIoU 61.4"]
    assert published.matching(entry.published, "cityscapes", "val", (512, 256)) == []
    assert len(published.matching(entry.published, "cityscapes", "test", (1024, 512))) == 2
    assert published.matching(entry.published, "camvid", "val", (1024, 512)) == []
    info = ModelInfo.from_zoo(entry)
    assert evaluation._zoo_figures(info) == entry.published
    info.checkpoint_sha256 = "0" * 64   # exported from a --weights file of the user's: not the authors' figures
    assert evaluation._zoo_figures(info) == ()
    info.name = "my-net"
    assert evaluation._zoo_figures(info) == ()


@pytest.mark.slow
def test_eval_cli_count_void_and_published_on_part_of_the_split(tmp_path):
    out = tmp_path / "r.json"
    proc = run_cli("eval", "--model", "espnet-q8-camvid", "--data", CAMVID, "--limit", "3", "--count-void",
                   "--threads", "1", "--json", out)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out.read_text())
    assert data["convention"] == "void-counted" and data["ignored"] == "11 (void)" and data["images"] == 3
    conf, void = np.array(data["confusion"]), np.array(data["void_predictions"])
    assert data["miou"] == pytest.approx(metrics.mean_iou(metrics.per_class_iou(conf, void)), abs=1e-6)
    assert data["class_average"] == pytest.approx(metrics.class_average(conf), abs=1e-6)
    rows = {row["metric"]: row for row in data["published"]}
    assert sorted(rows) == ["class_average", "miou"] and rows["miou"]["printed"] == "55.64"
    assert rows["miou"]["measured"] == data["miou"] and rows["miou"]["whole_split"] is False
    assert rows["miou"]["source"]["url"].startswith("https://github.com/sacmehta/ESPNet/blob/afe71c3")
    assert "void counted: the authors' convention" in proc.stdout
    assert "published beside measured" in proc.stdout and "part of the split (--limit)" in proc.stdout
    proc = run_cli("eval", "--model", "espnet-q8-camvid", "--data", CAMVID, "--ignore-index", "7")
    assert proc.returncode == 2 and "--ignore-index is for the masks layout" in proc.stderr
