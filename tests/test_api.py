"""The Python API at the package top: espnet_edge.load / models / export / bench, on real photos."""

import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from conftest import PHOTOS, ROOT
from espnet_edge import visualize
from espnet_edge.errors import UserError

CATS = os.path.join(PHOTOS, "sample5.jpg")  # two cats on a window sill (sacmehta/EdgeNets sample_images)
MODEL = "espnetv2-s0.5-pascal-256"


@pytest.mark.slow
def test_three_lines_segment_a_photo_from_any_directory(tmp_path, shared):
    """The README's promise: three lines, run from a folder that is not the checkout; the on-demand
    export goes to the user's cache (with a note), nothing to the current folder or the checkout."""
    code = ("import json\n"
            "import espnet_edge as ee\n"
            "with ee.load({!r}) as model:\n"
            "    result = model.segment({!r})\n"
            "print(json.dumps([result.class_map.shape, result.fractions()]))\n"
            ).format(MODEL, CATS)
    env = dict(os.environ, PYTHONPATH=ROOT, ESPNET_EDGE_CACHE=str(tmp_path / "cache"), OMP_NUM_THREADS="1")
    work = tmp_path / "elsewhere"
    work.mkdir()
    before = set(os.listdir(os.path.join(ROOT, "export")))
    proc = subprocess.run([sys.executable, "-c", code], cwd=str(work), env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    shape, fractions = json.loads(proc.stdout)
    assert shape == [640, 640]
    assert max((f, name) for name, f in fractions.items() if name != "background")[1] == "cat"
    assert fractions["cat"] > 0.2
    assert "note: exporting {}".format(MODEL) in proc.stderr
    assert os.listdir(str(work)) == []
    exported = MODEL + "-256x256.onnx"  # nothing else: the export held a lock on the folder, not a file
    assert sorted(os.listdir(str(tmp_path / "cache" / "export"))) == [exported, exported + ".report.json"]
    assert set(os.listdir(os.path.join(ROOT, "export"))) == before


@pytest.fixture(scope="module")
def model():
    import espnet_edge as ee

    with ee.load(MODEL, backend="torch", threads=1) as loaded:
        yield loaded


def test_every_image_form_gives_the_same_map(model):
    from PIL import Image

    bgr = cv2.imread(CATS)
    rgb = np.ascontiguousarray(bgr[:, :, ::-1])
    by_path = model.segment(CATS)
    assert by_path.class_map.shape == bgr.shape[:2] and by_path.class_map.dtype == np.uint8
    assert np.array_equal(model.segment(bgr, channels="bgr").class_map, by_path.class_map)
    assert np.array_equal(model.segment(rgb, channels="rgb").class_map, by_path.class_map)
    # PIL decodes the JPEG with its own libjpeg: pixels may differ by a count or two
    from_pil = model.segment(Image.open(CATS)).class_map
    assert (from_pil == by_path.class_map).mean() > 0.99
    swapped = model.segment(bgr, channels="rgb").class_map
    assert not np.array_equal(swapped, by_path.class_map)  # the channel order matters to the network
    small = model.segment(CATS, at_network_size=True)
    assert small.class_map.shape == (256, 256)


def test_result_images_follow_the_channel_order(model):
    bgr = cv2.imread(CATS)
    result = model.segment(bgr, channels="bgr")
    assert result.class_names == model.class_names and len(result.palette) == 21
    assert result.classes_present()[:2] in (["background", "cat"], ["cat", "background"])
    colours = result.colorize()
    assert colours.shape == bgr.shape
    cat = result.class_names.index("cat")
    assert tuple(colours[result.class_map == cat][0]) == tuple(result.palette[cat])[::-1]  # BGR, as asked
    assert np.array_equal(result.colorize(channels="rgb"), colours[:, :, ::-1])
    assert np.array_equal(result.image, bgr)
    plain = result.overlay(alpha=0.5, legend=False)
    expected = 0.5 * bgr.astype(np.float32) + 0.5 * colours.astype(np.float32)
    assert np.abs(plain.astype(np.float32) - expected).max() <= 1.0
    with_legend = result.overlay(alpha=0.5)
    outlines = np.zeros_like(bgr)  # the cat's colour is dark: its regions are outlined (visualize.DARK_LIMIT)
    assert visualize.outline_dark_classes(outlines, result.class_map, result.palette, [cat]) == [cat]
    changed = (with_legend != plain).any(axis=2)
    assert changed[outlines.any(axis=2)].mean() > 0.5
    rows, cols = np.nonzero(changed & ~outlines.any(axis=2))
    assert rows.max() < 100 and cols.min() > bgr.shape[1] - 220  # a legend, top right


def test_bad_images_are_one_line_errors(model, tmp_path):
    bgr = cv2.imread(CATS)
    for image, kwargs, message in ((bgr, {}, "say the channel order"),
                                   (bgr.astype(np.float32), {"channels": "bgr"}, "must be uint8"),
                                   (bgr[:, :, :2], {"channels": "bgr"}, "HxWx3"),
                                   (bgr, {"channels": "hsv"}, "'rgb' or 'bgr'"),
                                   ([1, 2, 3], {}, "not list"),
                                   (str(tmp_path / "missing.jpg"), {}, "cannot read image")):
        with pytest.raises(UserError, match=message) as info:
            model.segment(image, **kwargs)
        assert "\n" not in str(info.value)


def test_models_load_errors_and_bench(tmp_path):
    import espnet_edge as ee

    from espnet_edge import zoo

    names = ee.models()
    assert names == zoo.list_models() and len(names) >= 23 and MODEL in names
    assert ee.models("espnetv2-s2.0-*") == ["espnetv2-s2.0-city-1024", "espnetv2-s2.0-city-512",
                                            "espnetv2-s2.0-pascal-256", "espnetv2-s2.0-pascal-384"]
    with pytest.raises(UserError, match="unknown model"):
        ee.load("espnetv3")
    with pytest.raises(UserError, match="does not exist"):
        ee.load(str(tmp_path / "none.onnx"))
    with pytest.raises(UserError, match="size must be"):
        ee.load(MODEL, size=256)
    with pytest.raises(UserError, match="architecture only"):  # untrained: its masks would be noise
        ee.load("torch:enet-city")
    result = ee.bench(MODEL, backend="torch", size="128x128", iters=3, warmup=1, threads=1)
    assert result["iters"] == 3 and result["fps"] > 0 and result["size"] == "128x128"
    assert result["backend"] == "torch" and result["latency_ms"]["min"] <= result["latency_ms"]["max"]


def test_export_then_load_the_file(tmp_path):
    import espnet_edge as ee

    report = ee.export("espnet-c-q3", size=(128, 64), out_dir=str(tmp_path))
    assert report["onnx"] == str(tmp_path / "espnet-c-q3-128x64.onnx") and os.path.isfile(report["onnx"])
    assert report["verification"]["mask_agreement_min"] >= 0.99
    with ee.load(report["onnx"], threads=1) as loaded:
        assert loaded.backend == "onnxruntime" and loaded.input_size == (128, 64)
        result = loaded.segment(CATS)
    assert result.class_map.shape == (640, 640) and result.class_map.max() < 20


def test_importing_the_package_loads_no_numerical_library():
    code = ("import sys, espnet_edge as ee\n"
            "assert callable(ee.load) and callable(ee.models) and callable(ee.export) and callable(ee.bench)\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('numpy', 'torch', 'cv2', 'onnx', 'onnxruntime', 'PIL', 'matplotlib')))\n")
    proc = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, PYTHONPATH=ROOT),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
