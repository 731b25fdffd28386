"""Colour class maps with a model's palette, blend them over frames, draw legends (numpy + OpenCV).

The overlay costs a few milliseconds at 2048x1024 (benchmarks/bench_overlay.py): the colours come
from one table lookup per channel (cv2.LUT) and the blend is one pass of integer arithmetic, with
results pixel-identical to the float32 formula it replaces (``blend``). Legend and outlines are drawn
on small regions only; the legend scales with the image and moves to a panel beside images too
small to hold it (``legend_layout``).
"""

import numpy as np

from espnet_edge import defaults

LEGEND_ITEMS = 12
# the legend may hide at most this share of the image; a legend that would hide more is drawn in a
# panel to the right of the image (the image is then wider, never covered)
LEGEND_MAX_SHARE = 0.15
# a class colour whose brightest channel is below this (and that is not a grey) barely tints a frame
# at alpha 0.5 (PASCAL's cat (64, 0, 0), pottedplant (0, 64, 0); Cityscapes' truck (0, 0, 70)): its
# regions get an outline in the same hue at full brightness
DARK_LIMIT = 100
GREY_SPREAD = 32  # colours whose channels differ by less than this are greys (no hue to show)
MIN_CONTOUR = 4  # contour points (CHAIN_APPROX_SIMPLE) of the smallest region outlined: a 2x2 block
_BASE = {"font": 0.45, "row": 18, "pad": 6, "swatch": 14, "margin": 6}


def _cv2():
    import cv2

    return cv2


def palette_array(palette):
    """Palette (RGB tuples) -> uint8 array [classes, 3] in BGR order, as OpenCV draws."""
    return np.asarray(palette, dtype=np.uint8)[:, ::-1].copy()


_LUTS = {}


def _channel_luts(palette):
    """Three 256-entry tables (B, G, R): class index -> colour value; indices past the palette black."""
    key = tuple(tuple(int(v) for v in c) for c in palette)
    if key not in _LUTS:
        colours = palette_array(key)
        luts = np.zeros((3, 256), dtype=np.uint8)
        luts[:, :len(colours)] = colours[:256].T
        _LUTS[key] = [np.ascontiguousarray(row) for row in luts]
    return _LUTS[key]


def _as_index(mask):
    mask = np.asarray(mask)
    if mask.dtype != np.uint8:
        mask = np.clip(mask, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(mask)


def colorize(mask, palette):
    """Class map HxW -> BGR image HxWx3 using the palette; out-of-range indices are drawn black."""
    cv2 = _cv2()
    index = _as_index(mask)
    return cv2.merge([cv2.LUT(index, lut) for lut in _channel_luts(palette)])


def blend(frame_bgr, colours, alpha=defaults.OVERLAY_ALPHA):
    """``colours`` over ``frame_bgr`` (uint8, same shape) with weight ``alpha``. Alpha 0.5 (the default)
    is the rounded-up integer mean (f + c + 1) >> 1, done as (f | c) - ((f ^ c) >> 1) in uint8: bit for
    bit the float32 formula floor(f * (1 - alpha) + c * alpha + 0.5) and the frame graph's overlay.
    Other alphas: OpenCV's addWeighted (one pass, ~2 ms for a 2048x1024 frame), which rounds ties to
    even: at most 1 apart from that formula, only where its value sits on a tie (x.5)."""
    cv2 = _cv2()
    alpha = float(alpha)
    frame_bgr = np.ascontiguousarray(frame_bgr)
    if alpha == 0.5:
        odd = cv2.bitwise_xor(frame_bgr, colours)
        np.right_shift(odd, 1, out=odd)
        out = cv2.bitwise_or(frame_bgr, colours)
        return cv2.subtract(out, odd, dst=out)
    return cv2.addWeighted(frame_bgr, 1.0 - alpha, np.ascontiguousarray(colours), alpha, 0.0)


def overlay(frame_bgr, mask, palette, alpha=defaults.OVERLAY_ALPHA):
    """Blend the coloured mask over the frame; mask must have the frame's height and width."""
    return blend(frame_bgr, colorize(mask, palette), alpha)


def classes_present(mask, num_classes):
    counts = np.bincount(np.asarray(mask).ravel().astype(np.int64), minlength=num_classes)[:num_classes]
    return [int(c) for c in np.argsort(-counts, kind="stable") if counts[c] > 0]


def text_scale(height):
    """Size of legend and HUD text for an image this tall: 1.0 at 512 rows (the look of 1024x512
    frames), proportional above and below, kept within 0.8 (Hershey text stays legible) .. 2.0."""
    return min(max(height / 512.0, 0.8), 2.0)


class LegendLayout(object):
    """Where the legend of an image of ``shape`` goes, decided once per image size and class list
    (so every frame of a video gets the same output size): ``inside`` (top right) when the largest
    legend the classes can need (``max_items`` rows of the longest name) hides at most
    LEGEND_MAX_SHARE of the image and fits in it; otherwise in a panel ``panel_width`` wide to the
    right of the image (the canvas grows, the image stays whole)."""

    def __init__(self, shape, classes, max_items=LEGEND_ITEMS, max_share=LEGEND_MAX_SHARE):
        cv2 = _cv2()
        height, width = shape[:2]
        self.scale = scale = text_scale(height)
        self.font = _BASE["font"] * scale
        self.thick = max(1, int(round(scale)))
        self.row, self.pad, self.swatch, self.margin = (
            max(1, int(round(_BASE[k] * scale))) for k in ("row", "pad", "swatch", "margin"))
        self.max_items = max(1, min(max_items, len(classes)))
        self._widths = [cv2.getTextSize(str(name), cv2.FONT_HERSHEY_SIMPLEX, self.font, self.thick)[0][0]
                        for name in classes]
        worst_w, worst_h = self.box(range(len(classes)), self.max_items)
        self.inside = (worst_w + 2 * self.margin <= width and worst_h + 2 * self.margin <= height
                       and worst_w * worst_h <= max_share * width * height)
        self.panel_width = 0 if self.inside else worst_w + 2 * self.margin
        self.canvas_height = height if self.inside else max(height, worst_h + 2 * self.margin)

    def box(self, items, count=None):
        """(width, height) of a legend listing ``items`` (class indices; ``count`` rows)."""
        items = list(items)
        text = max([self._widths[c] for c in items] + [int(40 * self.scale)])
        rows = len(items) if count is None else count
        return text + 2 * self.pad + self.swatch + 2 * self.pad, self.row * rows + self.pad

    def origin(self, shape, box):
        """Top-left corner of a legend box of size ``box`` on an image of ``shape`` (the original image's)."""
        width = shape[1]
        if self.inside:
            return width - box[0] - self.margin, self.margin
        return width + self.margin, self.margin


_LAYOUTS = {}


def legend_layout(shape, classes, max_items=LEGEND_ITEMS):
    key = (tuple(shape[:2]), tuple(classes), max_items)
    if key not in _LAYOUTS:
        if len(_LAYOUTS) > 64:
            _LAYOUTS.clear()
        _LAYOUTS[key] = LegendLayout(shape, classes, max_items)
    return _LAYOUTS[key]


def draw_legend(image, mask, classes, palette, max_items=LEGEND_ITEMS, present=None):
    """A legend of the classes present in ``mask`` (most frequent first, at most ``max_items``),
    top right, scaled with the image (``legend_layout``); drawn in place and -> ``image``, or, for an
    image too small to hold it within LEGEND_MAX_SHARE, -> a new, wider image with the legend in a
    panel on the right. ``present``: the class indices to list, when already counted."""
    if present is None:
        present = classes_present(mask, len(classes))
    present = list(present)[:max_items]
    layout = legend_layout(image.shape, classes, max_items)
    if not layout.inside:
        height, width = image.shape[:2]
        canvas = np.zeros((layout.canvas_height, width + layout.panel_width, 3), dtype=np.uint8)
        canvas[:height, :width] = image
        image_shape, image = image.shape, canvas
    else:
        image_shape = image.shape
    if not present:
        return image
    box = _legend_box(layout, tuple(present), tuple(classes), tuple(tuple(c) for c in palette))
    x0, y0 = layout.origin(image_shape, (box.shape[1], box.shape[0]))
    image[y0:y0 + box.shape[0], x0:x0 + box.shape[1]] = box
    return image


def legend_box(shape, mask, classes, max_items=LEGEND_ITEMS):
    """Where ``draw_legend`` draws for ``mask`` on an image of ``shape``: (x0, y0, x1, y1), corners
    included, in the coordinates of the image it returns (wider than ``shape`` when the legend goes
    in a panel beside the image); None when no class is present. It draws nothing outside it."""
    present = classes_present(mask, len(classes))[:max_items]
    if not present:
        return None
    layout = legend_layout(shape, classes, max_items)
    width, height = layout.box(present)
    x0, y0 = layout.origin(shape, (width, height))
    return x0, y0, x0 + width - 1, y0 + height - 1


_BOXES = {}


def _legend_box(layout, present, classes, palette):
    """The legend for ``present`` as its own opaque image (black box, swatches, names), drawn once per
    class list and size: a video's frames mostly show the same classes, so each frame only copies it."""
    key = (layout.scale, present, classes, palette)  # the layout's every measure follows from its scale
    if key in _BOXES:
        return _BOXES[key]
    cv2 = _cv2()
    width, height = layout.box(present)
    image = np.zeros((height, width, 3), dtype=np.uint8)
    colours = palette_array(palette)
    dark = set(dark_classes(palette))
    pad, row, swatch, scale = layout.pad, layout.row, layout.swatch, layout.scale
    for i, cls in enumerate(present):
        top = int(round(4 * scale)) + i * row
        corner = (pad, top + int(round(2 * scale)))
        far = (corner[0] + swatch - 1, corner[1] + swatch - 1)
        colour = tuple(int(v) for v in colours[cls]) if cls < len(colours) else (0, 0, 0)
        cv2.rectangle(image, corner, far, colour, -1)
        edge = outline_colour(palette[cls]) if cls in dark else (200, 200, 200)  # black swatches show too
        cv2.rectangle(image, corner, far, edge, max(1, layout.thick))
        cv2.putText(image, str(classes[cls]), (far[0] + 1 + pad, top + int(round(13 * scale))),
                    cv2.FONT_HERSHEY_SIMPLEX, layout.font, (255, 255, 255), layout.thick, cv2.LINE_AA)
    if len(_BOXES) > 256:
        _BOXES.clear()
    _BOXES[key] = image
    return image


def dark_classes(palette):
    """Indices of colours that barely tint a frame: brightest channel below DARK_LIMIT, not a grey."""
    return [i for i, c in enumerate(palette) if max(c) < DARK_LIMIT and max(c) - min(c) >= GREY_SPREAD]


def outline_colour(colour_rgb):
    """The hue of a dark colour at full brightness (brightest channel 255), BGR for OpenCV."""
    top = float(max(colour_rgb))
    return tuple(int(round(v * 255.0 / top)) for v in colour_rgb[::-1])


def outline_dark_classes(image, mask, palette, present):
    """Outline the regions of the dark classes among ``present`` (class indices) in their hue at full
    brightness, so they show at any alpha. ``mask`` may be smaller than ``image`` (the network-size
    class map of a frame graph): its contours are scaled to the image. In place; -> the classes drawn."""
    cv2 = _cv2()
    dark = set(dark_classes(palette))
    drawn = [c for c in present if c in dark]
    if not drawn:
        return drawn
    height, width = image.shape[:2]
    mask = _as_index(mask)
    sx, sy = width / float(mask.shape[1]), height / float(mask.shape[0])
    thickness = max(2, int(round(2 * text_scale(height))))
    for cls in drawn:
        region = cv2.compare(mask, cls, cv2.CMP_EQ)
        found = cv2.findContours(region, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
        # OpenCV 3 returns (image, contours, hierarchy), 4 and later (contours, hierarchy); specks of a
        # pixel or two (fewer than MIN_CONTOUR points) are not outlined
        contours = [c for c in found[-2] if len(c) >= MIN_CONTOUR]
        if contours and (sx != 1.0 or sy != 1.0):  # all points scaled at once, then split again
            points = np.round((np.concatenate(contours) + 0.5) * (sx, sy) - 0.5).astype(np.int32)
            contours = np.split(points, np.cumsum([len(c) for c in contours])[:-1])
        cv2.drawContours(image, contours, -1, outline_colour(palette[cls]), thickness)
    return drawn


def decorate(image, mask, classes, palette, present=None, max_items=LEGEND_ITEMS):
    """Outlines of the dark classes present and the legend: -> the finished image (``image`` itself,
    or a wider one when the legend goes beside it). ``mask``: the class map at the image's size or at
    the network size; ``present``: class indices already counted (most frequent first)."""
    if present is None:
        present = classes_present(mask, len(classes))
    outline_dark_classes(image, mask, palette, present)
    return draw_legend(image, mask, classes, palette, max_items=max_items, present=present)
