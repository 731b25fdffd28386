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


def draw_legend(image, mask, classes, palette, max_items=12):
    """Draw a legend of the classes present in ``mask`` (most frequent first) in the top-right corner."""
    import cv2

    present = classes_present(mask, len(classes))[:max_items]
    colours = palette_array(palette)
    font, scale, thick = cv2.FONT_HERSHEY_SIMPLEX, 0.45, 1
    row = 18
    width = max([cv2.getTextSize(classes[c], font, scale, thick)[0][0] for c in present] + [40]) + 34
    x0 = max(image.shape[1] - width - 6, 0)
    y0 = 6
    cv2.rectangle(image, (x0, y0), (x0 + width, y0 + row * len(present) + 6), (0, 0, 0), -1)
    for i, cls in enumerate(present):
        y = y0 + 4 + i * row
        colour = tuple(int(v) for v in colours[cls])
        cv2.rectangle(image, (x0 + 6, y + 2), (x0 + 20, y + 14), colour, -1)
        cv2.rectangle(image, (x0 + 6, y + 2), (x0 + 20, y + 14), (200, 200, 200), 1)  # black swatches too
        cv2.putText(image, classes[cls], (x0 + 26, y + 13), font, scale, (255, 255, 255), thick,
                    cv2.LINE_AA)
    return image
