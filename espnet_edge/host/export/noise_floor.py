"""How stable the fp32 masks are under perturbations no quantizer avoids: the noise floor INT8 mask
agreement should be read against.

- ``grey_level``: every input value moved by +-1 grey level (signs pseudo-random, fixed seed), applied
  at the network input (after resizing: what the first layer sees), clipping at 0/255 ignored;
- ``jpeg95``: the frame re-encoded as JPEG quality 95 (OpenCV) before preprocessing.

Both are fp32 against fp32: a frame where a one-grey-level change already moves 2% of the mask cannot
tell a good INT8 graph from a bad one at the 1% level.
"""

import numpy as np

SEED = 0
JPEG_QUALITY = 95


def grey_level_step(info):
    """One grey level in the units of the graph input, per channel ([C]): raw pixels for fused
    preprocessing, (scale / std / divide) for the normalised input."""
    spec = info.preprocess
    channels = 3
    if info.fused_pre or info.frame_size or spec is None:
        return np.ones(channels, np.float32)
    return np.asarray(spec.affine()[0], np.float32)


def plus_minus_one_grey(batch, info, seed=SEED):
    """``batch`` with every value moved by +-1 grey level (signs from a fixed-seed generator)."""
    signs = np.random.RandomState(seed).randint(0, 2, size=batch.shape).astype(np.float32) * 2 - 1
    step = grey_level_step(info)
    view = (1, -1, 1, 1) if info.input_layout == "NCHW" else (1, 1, 1, -1)
    return (batch + signs * step.reshape(view)).astype(batch.dtype)


def jpeg_reencoded(frame_bgr, quality=JPEG_QUALITY):
    from espnet_edge.images import quiet_opencv

    cv2 = quiet_opencv()
    ok, data = cv2.imencode(".jpg", frame_bgr, [int(cv2.IMWRITE_JPEG_QUALITY), int(quality)])
    if not ok:
        raise RuntimeError("OpenCV could not encode a JPEG")
    return cv2.imdecode(data, cv2.IMREAD_COLOR)


def noise_floor(fp32_path, frames_bgr, info, seed=SEED, stable=None):
    """-> [{'grey_level': agreement, 'jpeg95': agreement}] per frame: fp32 masks of the perturbed
    inputs against the fp32 masks of the frames themselves. A list given as ``stable`` receives, per
    frame, the pixels whose class neither perturbation changes."""
    from espnet_edge.host.export.int8_qdq import agreement, class_maps
    from espnet_edge.host.export.verify import network_input

    batches = [network_input(frame, info) for frame in frames_bgr]
    reference = class_maps(fp32_path, batches)
    grey = class_maps(fp32_path, [plus_minus_one_grey(b, info, seed + i) for i, b in enumerate(batches)])
    jpeg = class_maps(fp32_path, [network_input(jpeg_reencoded(frame), info) for frame in frames_bgr])
    if stable is not None:
        stable.extend((r == g) & (r == j) for r, g, j in zip(reference, grey, jpeg))
    return [{"grey_level": agreement([r], [g]), "jpeg95": agreement([r], [j])}
            for r, g, j in zip(reference, grey, jpeg)]


def stable_agreement(reference_maps, maps, stable):
    """Mask agreement on the stable pixels only (``noise_floor(..., stable=[])``), pooled."""
    same = sum(int(np.sum((a == b) & s)) for a, b, s in zip(reference_maps, maps, stable))
    return same / float(max(1, sum(int(np.sum(s)) for s in stable)))
