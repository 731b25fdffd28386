"""Calibration frames for INT8: the real images plus deterministic crops, flips and scales of them.

Ten real frames are too few for activation ranges; a camera sees the same kind of scene at other
framings, so each image also gives (documented, no randomness):
- the horizontal mirror of the full frame;
- crops covering 3/4 and 1/2 of each side, at the centre, left and right (vertically centred),
  each also mirrored, resized to the network input like any frame.
That is up to 2 + 2 x 3 x 2 = 14 frames per image (``AUGMENTATIONS`` lists them, centred views first),
but only as many views per image as bring the calibration set to ``AUGMENT_UNTIL`` frames: 5 images
give 13 views each, 69 images (3/4 of CamVid's 92 train frames) only themselves. Many real frames need
no synthetic ones, and all 14 views of 69 images (966 frames) took 8 minutes to calibrate at 480x360 on
2 cores (about 3 times that at 1024x512).
"""

import os

import numpy as np

from espnet_edge.host.export.verify import network_input
from espnet_edge.images import read_image

CROP_SCALES = (0.75, 0.5)
CROP_POSITIONS = ("centre", "left", "right")
AUGMENT_UNTIL = 64  # frames: fewer images than this are augmented up to about this many


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


def augmented_frames(frame, count=None):
    """-> [(name, BGR frame)] for one image: the frame itself first, then its augmentations (the first
    ``count`` views only, when given)."""
    out = []
    for name, mirrored in AUGMENTATIONS[:count]:
        if name == "full":
            view = frame
        else:
            scale, position = name[4:].split("-")
            view = _crop(frame, float(scale), position)
        if mirrored:
            view = view[:, ::-1]
        out.append((name + ("-mirrored" if mirrored else ""), np.ascontiguousarray(view)))
    return out


def views_per_image(images, augment=True):
    """How many views (``AUGMENTATIONS``, in order) each of ``images`` calibration images gives."""
    if not augment:
        return 1
    return int(max(1, min(len(AUGMENTATIONS), -(-AUGMENT_UNTIL // max(1, images)))))


def calibration_batches(paths, info, augment=True):
    """Preprocessed network inputs for INT8 calibration from image ``paths``: each image and, unless
    told not to augment, the first ``views_per_image`` of its views."""
    views = views_per_image(len(paths), augment)
    batches = []
    for path in paths:
        frame = read_image(path)
        batches.extend(network_input(view, info) for _, view in augmented_frames(frame, views))
    return batches


def split_frames(paths):
    """Real frames -> (calibration, held out): within each folder, sorted, alternate frames (the 1st,
    3rd, ... calibrate; the 2nd, 4th, ... are held out), so both sets see every kind of scene and
    accuracy is never measured on a frame that was calibrated on."""
    groups = {}
    for path in sorted(paths):
        groups.setdefault(os.path.dirname(path), []).append(path)
    calib, held = [], []
    for folder in sorted(groups):
        for index, path in enumerate(groups[folder]):
            (calib if index % 2 == 0 else held).append(path)
    return calib, held
