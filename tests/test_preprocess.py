"""Preprocessing is exactly the authors': the numpy PIL-bilinear resize against Pillow itself on
real images, and the whole ESPNet / ESPNetv2 recipes written out as the authors' scripts do them."""

import glob
import os

import numpy as np
import pytest

from espnet_edge import zoo
from espnet_edge.errors import UserError
from espnet_edge.images import read_image
from espnet_edge.preprocess import pil_vertical_first, preprocess, resize_pil_bilinear

from conftest import CITYSCAPES_IMAGES, PHOTOS

Image = pytest.importorskip("PIL.Image")
cv2 = pytest.importorskip("cv2")

FRAME = os.path.join(CITYSCAPES_IMAGES, "frankfurt_000000_000294_leftImg8bit.png")
# down and up, both axes, odd sizes, and sizes where recent Pillow runs the vertical pass first
SIZES = [(1024, 512), (512, 256), (384, 384), (256, 256), (333, 217), (640, 100), (1900, 300), (1500, 1100), (7, 5)]


def _rgb(path):
    return np.ascontiguousarray(cv2.imread(path)[:, :, ::-1])


def _pillow(rgb, size):
    return np.asarray(Image.fromarray(rgb).resize(size, Image.BILINEAR))


def _images():
    return [FRAME] + sorted(glob.glob(os.path.join(PHOTOS, "*.jpg")))[:4]


@pytest.mark.parametrize("path", _images(), ids=os.path.basename)
def test_numpy_pil_bilinear_equals_pillow_on_real_images(path, shared):
    rgb = _rgb(path)
    for size in SIZES:
        ours = resize_pil_bilinear(rgb, *size)
        theirs = _pillow(rgb, size)
        assert ours.shape == theirs.shape and ours.dtype == np.uint8
        diff = np.abs(ours.astype(np.int16) - theirs.astype(np.int16))
        assert diff.max() <= 1, size
        assert (diff > 0).mean() <= 1e-4, size


def test_pass_order_only_moves_values_by_one(shared):
    rgb = _rgb(FRAME)
    assert pil_vertical_first(2048, 1024, 1900, 300)
    assert not pil_vertical_first(2048, 1024, 1024, 512)
    modern = resize_pil_bilinear(rgb, 1900, 300)
    legacy = resize_pil_bilinear(rgb, 1900, 300, vertical_first=False)
    diff = np.abs(modern.astype(np.int16) - legacy.astype(np.int16))
    assert diff.max() == 1 and (diff > 0).mean() < 0.5


def test_random_sizes_match_pillow():
    rng = np.random.RandomState(7)
    for _ in range(40):
        height, width, out_h, out_w = rng.randint(1, 90, size=4)
        image = rng.randint(0, 256, size=(height, width, 3)).astype(np.uint8)
        assert np.array_equal(resize_pil_bilinear(image, out_w, out_h), _pillow(image, (out_w, out_h)))


def test_espnet_preprocessing_is_the_authors_recipe(shared):
    entry = zoo.get_model("espnet-q8")
    frame = read_image(FRAME)
    # sacmehta/ESPNet test/VisualizeResults.py, written out
    img = frame.astype(np.float32)
    mean = [72.3923111, 82.90893555, 73.15840149]
    std = [45.3192215, 46.15289307, 44.91483307]
    for j in range(3):
        img[:, :, j] -= mean[j]
    for j in range(3):
        img[:, :, j] /= std[j]
    img = cv2.resize(img, (1024, 512))
    img /= 255
    expected = img.transpose((2, 0, 1))[None]
    ours = preprocess(frame, entry.preprocess, entry.input_size)
    assert ours.dtype == np.float32 and ours.shape == (1, 3, 512, 1024)
    assert float(np.abs(ours - expected).max()) <= 1e-6


def test_espnetv2_preprocessing_is_the_authors_recipe(shared):
    entry = zoo.get_model("espnetv2-s2.0-city-1024")
    frame = read_image(FRAME)
    # sacmehta/EdgeNets test_segmentation.py: PIL RGB resize, to_tensor (/255), normalize
    pil = np.asarray(Image.fromarray(frame[:, :, ::-1].copy()).resize((1024, 512), Image.BILINEAR))
    tensor = pil.astype(np.float32) / np.float32(255)
    tensor = (tensor - np.float32([0.485, 0.456, 0.406])) / np.float32([0.229, 0.224, 0.225])
    expected = tensor.transpose(2, 0, 1)[None]
    ours = preprocess(frame, entry.preprocess, entry.input_size)
    assert ours.shape == (1, 3, 512, 1024)
    assert float(np.abs(ours - expected).max()) <= 1e-5


def test_fused_pre_leaves_raw_resized_pixels(shared):
    entry = zoo.get_model("espnetv2-s0.5-city-512")
    frame = read_image(FRAME)
    raw = preprocess(frame, entry.preprocess, entry.input_size, fused_pre=True)
    assert raw.shape == (1, 256, 512, 3)
    assert np.array_equal(raw[0].astype(np.uint8), _pillow(frame[:, :, ::-1].copy(), (512, 256)))


def test_grey_image_is_a_user_error():
    with pytest.raises(UserError, match="3-channel"):
        preprocess(np.zeros((10, 10), np.uint8), zoo.ESPNETV2_PREPROCESS, (32, 32))
