"""The CPU overlay (table lookup + one integer blend) is pixel-identical to the float32 formula it
replaced; the legend scales with the image, hides at most LEGEND_MAX_SHARE of it or moves beside it,
and is never cut off; dark class colours get outlines in their own hue."""

import os

import cv2
import numpy as np
import pytest

from conftest import CITYSCAPES_IMAGES, PHOTOS
from espnet_edge import visualize, zoo
from espnet_edge.apps import demo

PASCAL = zoo.get_model("espnetv2-s2.0-pascal-384")
CITY = zoo.get_model("espnet-q8")


def float32_overlay(frame, mask, palette, alpha):
    """The overlay as espnet-edge computed it before: fancy-indexed colours, float32 blend, + 0.5, truncated."""
    lut = np.zeros((256, 3), dtype=np.uint8)
    colours = visualize.palette_array(palette)
    lut[:len(colours)] = colours
    picked = lut[np.clip(mask, 0, 255).astype(np.uint8)]
    blended = frame.astype(np.float32) * (1.0 - alpha) + picked.astype(np.float32) * alpha
    return np.clip(blended + 0.5, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def street():
    frame = cv2.imread(os.path.join(CITYSCAPES_IMAGES, sorted(os.listdir(CITYSCAPES_IMAGES))[0]))
    # a class map with the structure of a real one (blocks of classes) and every index incl. out of range
    blocks = np.random.RandomState(0).randint(0, 24, size=(64, 128)).astype(np.uint8)
    return frame, cv2.resize(blocks, (frame.shape[1], frame.shape[0]), interpolation=cv2.INTER_NEAREST)


def _only_ties_differ(got, frame, colours, alpha):
    """The blend ``got`` is the float32 formula exactly, except by 1 where the formula's exact value
    f * (1 - alpha) + c * alpha lies on a tie (x.5, within float32 rounding at 255): OpenCV's
    addWeighted rounds those to even."""
    exact = frame.astype(np.float64) * (1.0 - alpha) + colours.astype(np.float64) * alpha
    formula = np.clip(frame.astype(np.float32) * (1.0 - alpha) + colours.astype(np.float32) * alpha + 0.5,
                      0, 255).astype(np.uint8)
    differ = got != formula
    on_tie = np.abs(exact - np.floor(exact) - 0.5) <= 255 * 4 * np.finfo(np.float32).eps
    assert np.abs(got.astype(np.int16) - formula).max() <= 1
    assert not (differ & ~on_tie).any()
    return int(differ.sum())


@pytest.mark.parametrize("alpha", [0.5, 0.0, 1.0])
def test_overlay_is_the_float32_blend_bit_for_bit(street, alpha):
    """The default alpha (and the ends) draw the float32 formula bit for bit: the frame graph's overlay."""
    frame, mask = street
    assert np.array_equal(visualize.overlay(frame, mask, CITY.palette, alpha),
                          float32_overlay(frame, mask, CITY.palette, alpha))


@pytest.mark.parametrize("alpha", [0.3, 0.7, 0.25, 0.123])
def test_overlay_at_other_alphas_differs_from_the_float32_blend_only_on_ties(street, alpha):
    frame, mask = street
    colours = visualize.colorize(mask, CITY.palette)
    _only_ties_differ(visualize.overlay(frame, mask, CITY.palette, alpha), frame, colours, alpha)


@pytest.mark.parametrize("alpha", [0.5, 0.3, 0.6, 0.25])
def test_blend_of_every_pixel_colour_pair(alpha):
    values = np.arange(256, dtype=np.uint8)
    frame = np.repeat(np.tile(values, (256, 1))[:, :, None], 3, axis=2)
    colours = np.ascontiguousarray(frame.transpose(1, 0, 2))
    differing = _only_ties_differ(visualize.blend(frame, colours, alpha), frame, colours, alpha)
    if alpha == 0.5:
        assert differing == 0


def test_colorize_draws_indices_past_the_palette_black():
    mask = np.array([[0, 1, 19, 20, 255]], dtype=np.uint8)
    colours = visualize.colorize(mask, CITY.palette)
    assert colours.shape == (1, 5, 3)
    assert tuple(colours[0, 1]) == tuple(CITY.palette[1])[::-1]
    assert (colours[0, 3:] == 0).all()
    wide = np.array([[-3, 2, 300]], dtype=np.int64)  # other dtypes are clipped to 0..255 first
    assert np.array_equal(visualize.colorize(wide, CITY.palette), visualize.colorize(np.array([[0, 2, 255]], np.uint8),
                                                                                     CITY.palette))


def _legend_pixels(shape, classes, palette, present):
    """-> (image, pixels the legend changed) drawn inside, or (wider canvas, None) drawn beside; on two
    constant canvases (an anti-aliased text pixel may equal one of them)."""
    drawn = []
    for value in (7, 201):
        canvas = np.full(shape, value, np.uint8)
        drawn.append((value, canvas, visualize.draw_legend(canvas, None, classes, palette, present=present)))
    (v1, c1, o1), (v2, _c2, o2) = drawn
    if o1 is not c1:
        return o1, None
    return o1, (o1 != v1).any(axis=2) | (o2 != v2).any(axis=2)


@pytest.mark.parametrize("entry", [PASCAL, CITY], ids=["pascal", "cityscapes"])
@pytest.mark.parametrize("size", [(275, 183), (183, 275), (320, 240), (480, 360), (640, 320), (1024, 512),
                                  (2048, 1024)])
def test_legend_hides_a_bounded_share_or_moves_beside_the_image(entry, size):
    width, height = size
    names = [len(n) for n in entry.classes]
    longest_first = sorted(range(len(entry.classes)), key=lambda c: -names[c])[:visualize.LEGEND_ITEMS]
    out, changed = _legend_pixels((height, width, 3), entry.classes, entry.palette, longest_first)
    layout = visualize.legend_layout((height, width), entry.classes)
    if changed is not None:  # inside: the largest legend these classes can need stays under the share
        assert layout.inside and changed.mean() <= visualize.LEGEND_MAX_SHARE
        rows, cols = np.nonzero(changed)
        assert rows.min() > 0 and cols.max() < width - 1  # not cut off at the border
    else:  # beside: a panel on the right, the image itself untouched, the legend inside the canvas
        assert not layout.inside and out.shape[1] == width + layout.panel_width and out.shape[0] >= height
        assert (out[:height, :width] == 7).all()
        drawn = np.nonzero((out[:, width:] != 0).any(axis=2))
        assert drawn[1].max() < layout.panel_width - 1 and drawn[0].max() < out.shape[0] - 1


def test_small_photo_keeps_all_of_its_pixels_and_a_whole_legend(tmp_path):
    """The 275x183 photo of issue 20: the legend covered about half of it and was cut off."""
    photo = cv2.imread(os.path.join(PHOTOS, "sample8.jpg"))
    assert photo.shape[:2] == (183, 275)
    mask = np.zeros(photo.shape[:2], np.uint8)
    mask[40:150, 30:120] = PASCAL.classes.index("person")
    mask[100:183, 150:275] = PASCAL.classes.index("pottedplant")
    blend = visualize.overlay(photo, mask, PASCAL.palette, 0.5)
    out = visualize.decorate(blend.copy(), mask, PASCAL.classes, PASCAL.palette)
    assert out.shape[0] == 183 and out.shape[1] > 275
    outlines = np.zeros_like(photo)
    visualize.outline_dark_classes(outlines, mask, PASCAL.palette, [PASCAL.classes.index("pottedplant")])
    untouched = ~outlines.any(axis=2)
    assert np.array_equal(out[:, :275][untouched], blend[untouched])  # the legend hides nothing
    cv2.imwrite(str(tmp_path / "small.png"), out)


def test_dark_colours_are_outlined_in_their_hue():
    cat, plant = PASCAL.classes.index("cat"), PASCAL.classes.index("pottedplant")
    dark = visualize.dark_classes(PASCAL.palette)
    assert cat in dark and plant in dark
    assert PASCAL.classes.index("background") not in dark  # black: no hue to show
    assert PASCAL.classes.index("car") not in dark  # (128, 128, 128): a grey
    assert visualize.dark_classes(CITY.palette) == [CITY.classes.index("truck")]
    assert visualize.outline_colour(PASCAL.palette[cat]) == (0, 0, 255)  # (64, 0, 0) RGB -> bright red, BGR
    # a network-size class map drawn on a frame twice its size: the outline follows the scaled region
    mask = np.zeros((64, 64), np.uint8)
    mask[16:48, 16:48] = cat
    image = np.zeros((128, 128, 3), np.uint8)
    assert visualize.outline_dark_classes(image, mask, PASCAL.palette, [0, cat]) == [cat]
    drawn = (image == (0, 0, 255)).all(axis=2)
    rows, cols = np.nonzero(drawn)
    assert rows.min() >= 30 and rows.max() <= 97 and cols.min() >= 30 and cols.max() <= 97
    assert not drawn[40:88, 40:88].any()  # an outline, not a fill


def test_hud_scales_and_stays_within_its_share():
    lines = demo.hud_lines(29.9, 33.3, 1300, "espnetv2-s2.0-pascal-384 / onnxruntime", 61.0,
                           dict((stage, 12.3) for stage in ("preprocess", "compute", "postprocess", "render")))
    for width, height in ((275, 183), (640, 320), (2048, 1024)):
        kept, font, _thick, _row, box = demo.hud_box((height, width), lines)
        assert kept == lines[:len(kept)] and kept  # the first lines (label, FPS) stay
        area = (box[2] - box[0]) * (box[3] - box[1])
        assert area <= demo.HUD_MAX_SHARE * width * height and box[2] < width
        assert font == pytest.approx(0.5 * visualize.text_scale(height))
    assert demo.hud_box((1024, 2048), lines)[0] == lines
