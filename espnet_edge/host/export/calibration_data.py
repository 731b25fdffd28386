"""Calibration frames for INT8: the real images plus deterministic crops, flips and scales of them.

Ten real frames are too few for activation ranges; a camera sees the same kind of scene at other
framings, so each image also gives (documented, no randomness):
- the horizontal mirror of the full frame;
- crops covering 3/4 and 1/2 of each side, at the left, centre and right (vertically centred),
  each also mirrored, resized to the network input like any frame.
That is 2 + 2 x 3 x 2 = 14 frames per image (``AUGMENTATIONS`` lists them).
"""

import numpy as np

from espnet_edge.host.export.verify import network_input
from espnet_edge.images import read_image

CROP_SCALES = (0.75, 0.5)
CROP_POSITIONS = ("left", "centre", "right")


def _augmentations():
    names = [("full", False), ("full", True)]
    for scale in CROP_SCALES:
        for position in CROP_POSITIONS:
            names.append(("crop{:g}-{}".format(scale, position), False))
            names.append(("crop{:g}-{}".format(scale, position), True))
    return names


AUGMENTATIONS = _augmentations()


def _crop(frame, scale, position):
    height, width = frame.shape[:2]
    crop_h, crop_w = max(1, int(round(height * scale))), max(1, int(round(width * scale)))
    top = (height - crop_h) // 2
    left = {"left": 0, "centre": (width - crop_w) // 2, "right": width - crop_w}[position]
    return frame[top:top + crop_h, left:left + crop_w]


def augmented_frames(frame):
    """-> [(name, BGR frame)] for one image: the frame itself first, then its augmentations."""
    out = []
    for name, mirrored in AUGMENTATIONS:
        if name == "full":
            view = frame
        else:
            scale, position = name[4:].split("-")
            view = _crop(frame, float(scale), position)
        if mirrored:
            view = view[:, ::-1]
        out.append((name + ("-mirrored" if mirrored else ""), np.ascontiguousarray(view)))
    return out


def calibration_batches(paths, info, augment=True):
    """Preprocessed network inputs for INT8 calibration from image ``paths`` (augmented unless told not)."""
    batches = []
    for path in paths:
        frame = read_image(path)
        views = augmented_frames(frame) if augment else [("full", frame)]
        batches.extend(network_input(view, info) for _, view in views)
    return batches
