"""`espnet-edge segment` end to end with the real weights and Cityscapes frames."""

import os

import cv2
import numpy as np
import pytest

from conftest import CITYSCAPES_IMAGES, REFERENCE
from espnet_edge import zoo
from espnet_edge.visualize import classes_present, legend_layout, outline_dark_classes, palette_array

FRAME = "frankfurt_000000_000294_leftImg8bit"


@pytest.fixture(scope="module")
def segmented(tmp_path_factory):
    from conftest import run_main

    out = tmp_path_factory.mktemp("seg")
    result = run_main("segment", "--model", "espnet", "--backend", "torch", "--out", out,
                      "--color", "--overlay", CITYSCAPES_IMAGES)
    assert result.returncode == 0, result.stderr
    return out


@pytest.mark.slow
def test_masks_at_image_size_hold_class_indices(segmented):
    for name in os.listdir(CITYSCAPES_IMAGES):
        stem = os.path.splitext(name)[0]
        mask = cv2.imread(str(segmented / (stem + ".png")), cv2.IMREAD_UNCHANGED)
        assert mask.dtype == np.uint8 and mask.shape == (1024, 2048)
        assert mask.max() < 20
        # a street scene: road is the most common class in the lower half
        lower = mask[600:900]
        assert np.bincount(lower.ravel(), minlength=20).argmax() == zoo.CITYSCAPES_CLASSES.index("road")


@pytest.mark.slow
def test_colour_and_overlay_use_the_palette(segmented):
    mask = cv2.imread(str(segmented / (FRAME + ".png")), cv2.IMREAD_UNCHANGED)
    colour = cv2.imread(str(segmented / (FRAME + "_color.png")))
    assert np.array_equal(colour, palette_array(zoo.CITYSCAPES_PALETTE)[mask])
    frame = cv2.imread(os.path.join(CITYSCAPES_IMAGES, FRAME + ".png"))
    overlay = cv2.imread(str(segmented / (FRAME + "_overlay.png")))
    expected = 0.5 * frame.astype(np.float32) + 0.5 * colour.astype(np.float32)
    differs = np.abs(overlay.astype(np.float32) - expected).max(axis=2) > 1.0
    present = classes_present(mask, 20)
    outlines = np.zeros_like(frame)
    outline_dark_classes(outlines, mask, zoo.CITYSCAPES_PALETTE, present)
    differs &= ~outlines.any(axis=2)  # outlines around dark classes (none may be present)
    # only the legend (top right, as the demo draws it, scaled with the frame) departs from the blend
    layout = legend_layout(frame.shape, zoo.CITYSCAPES_CLASSES)
    assert layout.inside and overlay.shape == frame.shape
    width, height = layout.box(present[:12])
    x0, y0 = layout.origin(frame.shape, (width, height))
    rows, cols = np.nonzero(differs)
    assert rows.min() >= y0 and cols.min() >= x0 and rows.max() < y0 + height and cols.max() < x0 + width
    box = overlay[y0:y0 + height, x0:x0 + width]
    assert (box == 0).all(axis=2).mean() > 0.3  # the legend's black panel
    # a swatch per class present (up to 12), most frequent first, in the palette's colours
    top = y0 + int(round(4 * layout.scale)) + int(round(2 * layout.scale)) + layout.swatch // 2
    swatches = [tuple(int(v) for v in overlay[top + i * layout.row, x0 + layout.pad + layout.swatch // 2])
                for i in range(min(12, len(present)))]
    assert swatches == [tuple(int(v) for v in palette_array(zoo.CITYSCAPES_PALETTE)[c]) for c in present[:12]]


@pytest.mark.slow
def test_mask_at_network_size_matches_the_authors(tmp_path, main):
    result = main("segment", "--model", "espnet-q8", "--backend", "torch", "--at-network-size",
                  "--out", tmp_path, os.path.join(CITYSCAPES_IMAGES, FRAME + ".png"))
    assert result.returncode == 0, result.stderr
    mask = cv2.imread(str(tmp_path / (FRAME + ".png")), cv2.IMREAD_UNCHANGED)
    reference = np.load(os.path.join(REFERENCE, "espnet_p2_q8_cityscapes.npz"))["mask_frankfurt_000000_000294"]
    assert mask.shape == reference.shape == (512, 1024)
    assert (mask == reference).mean() >= 0.999


def _one_line_error(result):
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def test_folder_without_images(tmp_path, main):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "notes.txt").write_text("x")
    line = _one_line_error(main("segment", "--model", "espnet-c-q3", "--backend", "torch",
                                "--out", tmp_path / "out", tmp_path / "in"))
    assert "holds no images" in line


@pytest.mark.slow
def test_unreadable_image_leaves_nothing_half_written(tmp_path, main):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    out = tmp_path / "out"
    line = _one_line_error(main("segment", "--model", "espnet-c-q3", "--backend", "torch",
                                "--out", out, bad))
    assert "cannot decode image" in line and "broken.png" in line
    assert not os.path.exists(str(out))   # a failure never leaves an empty --out behind


def test_a_bad_file_in_a_batch_is_named_and_the_rest_written(tmp_path, cli, small_onnx):
    """One truncated JPEG among good images: skipped with a warning naming it, the others segmented,
    exit non-zero with a one-line summary; the inputs are untouched."""
    import hashlib
    import shutil

    from conftest import PHOTOS

    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("sample1.jpg", "sample2.jpg"):
        shutil.copy(os.path.join(PHOTOS, name), str(folder / name))
    data = open(os.path.join(PHOTOS, "sample3.jpg"), "rb").read()
    (folder / "sample3.jpg").write_bytes(data[:len(data) // 2])   # truncated mid-scan
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}
    out = tmp_path / "out"
    result = cli("segment", "--onnx", small_onnx, "--out", out, folder)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert [l for l in lines if ": error: " in l] == [lines[-1]]
    skipped = [l for l in lines if ": warning: skipped " in l]
    assert len(skipped) == 1 and "sample3.jpg" in skipped[0]
    assert "1 of 3 images could not be segmented" in lines[-1] and "the other 2 were written" in lines[-1]
    assert sorted(os.listdir(str(out))) == ["sample1.png", "sample2.png"]
    assert before == {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}


def test_an_output_over_an_input_is_refused_before_any_work(tmp_path, cli, small_onnx):
    import shutil

    image = tmp_path / "frame.png"
    shutil.copy(os.path.join(CITYSCAPES_IMAGES, FRAME + ".png"), str(image))
    before = image.read_bytes()
    line = _one_line_error(cli("segment", "--onnx", small_onnx, "--out", tmp_path, image))
    assert "would write frame.png over the input" in line
    assert image.read_bytes() == before


def test_output_folder_not_writable(tmp_path, main):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    line = _one_line_error(main("segment", "--model", "espnet-c-q3", "--backend", "torch",
                                "--out", blocker / "sub", os.path.join(CITYSCAPES_IMAGES, FRAME + ".png")))
    assert "cannot create output folder" in line


@pytest.mark.slow
def test_checkpoint_of_another_architecture(tmp_path, main):
    from conftest import WEIGHTS

    line = _one_line_error(main("segment", "--model", "espnet-q3", "--backend", "torch",
                                "--weights", os.path.join(WEIGHTS, "espnetv2", "espnetv2_s_1.0_city_512x256.pth"),
                                "--out", tmp_path, os.path.join(CITYSCAPES_IMAGES, FRAME + ".png")))
    assert "missing" in line or "unexpected" in line
