"""Check an exported graph against what it came from: ONNX Runtime vs PyTorch (or vs the fp32 ONNX)
on real images, as max |logit difference| and the share of pixels whose class agrees."""

import numpy as np

from espnet_edge.images import list_images, read_image
from espnet_edge.preprocess import preprocess


def synthetic_frame(size):
    """A deterministic BGR uint8 frame (gradients plus fixed noise) when no image is given."""
    width, height = size
    rows = np.linspace(0, 255, height)[:, None]
    cols = np.linspace(0, 255, width)[None, :]
    noise = np.random.RandomState(0).randint(0, 40, size=(height, width, 3))
    frame = np.stack([rows + 0 * cols, cols + 0 * rows, (rows + cols) / 2], axis=2) + noise
    return np.clip(frame, 0, 255).astype(np.uint8)


def frames(images, size, limit=None):
    """-> (source, [(label, BGR frame)]): the given images (files, folders or BGR uint8 arrays, such as
    a source's first frame) or one synthetic frame."""
    if images is None or len(images) == 0:
        return "synthetic", [("synthetic", synthetic_frame(size))]
    arrays = [("frame {}".format(i), image) for i, image in enumerate(images) if isinstance(image, np.ndarray)]
    paths = list_images([image for image in images if not isinstance(image, np.ndarray)]) \
        if len(arrays) < len(images) else []
    items = arrays + [(path, None) for path in paths]
    if limit:
        items = items[:limit]
    return "images", [(label, frame if frame is not None else read_image(label)) for label, frame in items]


def network_input(frame, info):
    """The batch for ``frame``; a frame graph (--input-size) gets frames of other sizes resized to
    its frame size first (both sides of a comparison see the same frame)."""
    batch = preprocess(frame, info.preprocess, info.input_size, layout=info.input_layout,
                       fused_pre=info.fused_pre, frame_size=info.frame_size, frame_dtype=info.frame_dtype,
                       resize_frames=True)
    if info.batch > 1:
        batch = np.ascontiguousarray(np.repeat(batch, info.batch, axis=0))
    return batch


def to_classes(output, fused_post, info_overlay=None):
    output = np.asarray(output)
    if info_overlay is not None:  # --fuse-overlay: the class rows under the overlay
        from espnet_edge.runtime.segmenter import split_overlay

        return np.stack([split_overlay(o, info_overlay)[0] for o in output])
    if fused_post:
        return output.reshape(output.shape[0], output.shape[-2], output.shape[-1])
    return np.argmax(output, axis=1)


def compare_outputs(reference, candidate, fused_post, info=None):
    """-> {max_abs_logit_diff, mask_agreement} for one batch (diff None for class-map outputs)."""
    overlay = info if info is not None and info.fused_overlay else None
    agreement = float(np.mean(to_classes(reference, fused_post, overlay) == to_classes(candidate, fused_post, overlay)))
    diff = None
    if not fused_post:
        diff = float(np.max(np.abs(np.asarray(reference, np.float32) - np.asarray(candidate, np.float32))))
    return {"max_abs_logit_diff": diff, "mask_agreement": agreement}


def summarize(per_image, source):
    diffs = [r["max_abs_logit_diff"] for r in per_image if r["max_abs_logit_diff"] is not None]
    return {
        "source": source,
        "note": "a deterministic synthetic frame: pass --images DIR to verify on real images"
        if source == "synthetic" else "real images",
        "images": len(per_image),
        "max_abs_logit_diff": max(diffs) if diffs else None,
        "mask_agreement_min": min(r["mask_agreement"] for r in per_image),
        "mask_agreement_mean": float(np.mean([r["mask_agreement"] for r in per_image])),
        "per_image": per_image,
    }


def verify_against_torch(module, session, info, images=None, limit=None):
    """PyTorch ``module`` (what was exported) vs the ONNX Runtime ``session`` on the frames."""
    import torch

    source, items = frames(images, info.frame_size or info.input_size, limit)
    name = session.get_inputs()[0].name
    per_image = []
    for label, frame in items:
        batch = network_input(frame, info)
        with torch.no_grad():
            expected = module(torch.from_numpy(batch)).numpy()
        got = session.run(None, {name: batch})[0]
        row = compare_outputs(expected, got, info.fused_post, info)
        row["image"] = label
        per_image.append(row)
    return summarize(per_image, source)


def verify_against_onnx(reference, candidate, info, images=None, limit=None, exclude=()):
    """Two ONNX Runtime sessions (fp32 reference, fp16/int8 candidate) on the frames."""
    source, items = frames(images, info.frame_size or info.input_size, limit)
    per_image = []
    ref_name = reference.get_inputs()[0].name
    cand_name = candidate.get_inputs()[0].name
    for label, frame in items:
        if label in exclude:
            continue
        batch = network_input(frame, info)
        row = compare_outputs(reference.run(None, {ref_name: batch})[0],
                              candidate.run(None, {cand_name: batch})[0], info.fused_post, info)
        row["image"] = label
        per_image.append(row)
    return summarize(per_image, source)


def miou_vs_reference(reference_masks, candidate_masks, num_classes):
    """Mean IoU of candidate class maps against reference class maps (classes present in either)."""
    ious = []
    ref = np.concatenate([m.ravel() for m in reference_masks])
    cand = np.concatenate([m.ravel() for m in candidate_masks])
    for cls in range(num_classes):
        union = np.sum((ref == cls) | (cand == cls))
        if union:
            ious.append(np.sum((ref == cls) & (cand == cls)) / float(union))
    return float(np.mean(ious)) if ious else 1.0
