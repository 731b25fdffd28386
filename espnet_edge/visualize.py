"""Colour class maps with a model's palette, blend them over frames, draw legends (numpy + OpenCV)."""

import numpy as np

from espnet_edge import defaults


def palette_array(palette):
    """Palette (RGB tuples) -> uint8 array [classes, 3] in BGR order, as OpenCV draws."""
    return np.asarray(palette, dtype=np.uint8)[:, ::-1].copy()


def colorize(mask, palette):
    """Class map HxW -> BGR image HxWx3 using the palette; out-of-range indices are drawn black."""
    lut = np.zeros((256, 3), dtype=np.uint8)
    colours = palette_array(palette)
    lut[: len(colours)] = colours
    return lut[np.clip(mask, 0, 255).astype(np.uint8)]


def overlay(frame_bgr, mask, palette, alpha=defaults.OVERLAY_ALPHA):
    """Blend the coloured mask over the frame; mask must have the frame's height and width."""
    colours = colorize(mask, palette)
    blended = frame_bgr.astype(np.float32) * (1.0 - alpha) + colours.astype(np.float32) * alpha
    return np.clip(blended + 0.5, 0, 255).astype(np.uint8)


def classes_present(mask, num_classes):
    counts = np.bincount(mask.ravel().astype(np.int64), minlength=num_classes)[:num_classes]
    return [int(c) for c in np.argsort(-counts) if counts[c] > 0]


_LEGEND_FONT_SCALE, _LEGEND_ROW = 0.45, 18


def _legend_box(shape, names):
    import cv2

    text = [cv2.getTextSize(name, cv2.FONT_HERSHEY_SIMPLEX, _LEGEND_FONT_SCALE, 1)[0][0] for name in names]
    width = max(text + [40]) + 34
    x0, y0 = max(shape[1] - width - 6, 0), 6
    return x0, y0, x0 + width, y0 + _LEGEND_ROW * len(names) + 6


def legend_box(shape, mask, classes, max_items=12):
    """Where ``draw_legend`` draws on an image of ``shape`` for ``mask``: (x0, y0, x1, y1), corners
    included (as cv2.rectangle and demo.draw_hud give them); it draws nothing outside it."""
    present = classes_present(mask, len(classes))[:max_items]
    return _legend_box(shape, [classes[c] for c in present])


def draw_legend(image, mask, classes, palette, max_items=12):
    """Draw a legend of the classes present in ``mask`` (most frequent first) in the top-right corner
    (inside ``legend_box``)."""
    import cv2

    present = classes_present(mask, len(classes))[:max_items]
    colours = palette_array(palette)
    x0, y0, x1, y1 = _legend_box(image.shape, [classes[c] for c in present])
    cv2.rectangle(image, (x0, y0), (x1, y1), (0, 0, 0), -1)
    for i, cls in enumerate(present):
        y = y0 + 4 + i * _LEGEND_ROW
        colour = tuple(int(v) for v in colours[cls])
        cv2.rectangle(image, (x0 + 6, y + 2), (x0 + 20, y + 14), colour, -1)
        cv2.rectangle(image, (x0 + 6, y + 2), (x0 + 20, y + 14), (200, 200, 200), 1)  # black swatches too
        cv2.putText(image, classes[cls], (x0 + 26, y + 13), cv2.FONT_HERSHEY_SIMPLEX, _LEGEND_FONT_SCALE,
                    (255, 255, 255), 1, cv2.LINE_AA)
    return image
