"""Run several artifacts of one network on the same frames and compare each with the first
(Polygraphy-style): max |logit difference| where both give logits, mask agreement, mIoU.
"""

import logging
from typing import List, NamedTuple

import numpy as np

from espnet_edge import defaults
from espnet_edge.apps import metrics
from espnet_edge.backends import open_source, resolve_spec
from espnet_edge.errors import UserError, batch_error
from espnet_edge.images import list_images, read_image
from espnet_edge.runtime.segmenter import Segmenter, resize_mask
from espnet_edge.utils.parsing import format_size
from espnet_edge.utils.progress import Progress

log = logging.getLogger(__name__)

DEFAULT_MIN_AGREEMENT = defaults.COMPARE_MIN_AGREEMENT
# Applied by default only when both artifacts are fp32: fp16/int8 logits legitimately move more.
DEFAULT_MAX_LOGIT_DIFF_FP32 = defaults.COMPARE_MAX_LOGIT_DIFF_FP32


def open_artifacts(specs, size=None, threads=None, weights=None):
    """-> [(label, runner)] in the order given; each spec is resolved as espnet_edge.backends.resolve_spec
    does (a bare zoo name runs where it runs in every command; prefix ``torch:`` for PyTorch). Zoo models
    run at ``size``, or else at the input size of the first file artifact (so logits can be compared),
    or else at their native size."""
    sources = [resolve_spec(spec, weights=weights, size=size) for spec in specs]
    opened = {}
    try:
        for i, source in enumerate(sources):
            if source.kind != "model":
                opened[i] = open_source(source, threads=threads)
        if size is None and opened:
            size = opened[min(opened)].info.input_size
        for i, source in enumerate(sources):
            if source.kind == "model":
                opened[i] = open_source(source._replace(size=size), threads=threads)
    except BaseException:
        for runner in opened.values():
            runner.close()
        raise
    return [(specs[i], opened[i]) for i in range(len(specs))]


def _run_one(segmenter, frame):
    output = np.asarray(segmenter.infer(segmenter.preprocess(frame)))
    mask = segmenter.postprocess(output)[0]
    logits = None if segmenter.info.fused_post else output[0].astype(np.float32)
    return logits, mask


def compare_runners(runners, frames, labels=None, progress=None):
    """Run every runner on every frame; -> report dict with one entry per runner, the first being
    the reference. Masks are compared at the reference's network size (nearest resize)."""
    if len(runners) < 2:
        raise UserError("compare needs at least two artifacts")
    labels = labels or [r.info.name for r in runners]
    segmenters = [Segmenter(r) for r in runners]
    ref_info = runners[0].info
    num_classes = len(ref_info.classes)
    for label, runner in zip(labels[1:], runners[1:]):
        if len(runner.info.classes) != num_classes:
            raise UserError("{} predicts {} classes but {} predicts {}: not the same network".format(
                label, len(runner.info.classes), labels[0], num_classes))
    stats = [{"max_abs": None, "sum_abs": 0.0, "count": 0, "min_image": 1.0,
              "logits": True, "conf": np.zeros((num_classes, num_classes), dtype=np.int64)}
             for _ in runners]
    frames = list(frames)
    with Progress(len(frames), "compare", enabled=progress) as bar:
        for frame in frames:
            ref_logits, ref_mask = _run_one(segmenters[0], frame)
            for seg, stat in zip(segmenters[1:], stats[1:]):
                logits, mask = _run_one(seg, frame)
                if mask.shape != ref_mask.shape:
                    mask = resize_mask(mask, (ref_mask.shape[1], ref_mask.shape[0]))
                image_conf = metrics.confusion_matrix(ref_mask, mask, num_classes, num_classes, ignore=-1)
                stat["conf"] += image_conf
                stat["min_image"] = min(stat["min_image"], metrics.pixel_accuracy(image_conf))
                if ref_logits is None or logits is None or logits.shape != ref_logits.shape:
                    stat["logits"] = False
                    continue
                diff = np.abs(logits - ref_logits)
                stat["max_abs"] = max(stat["max_abs"] or 0.0, float(diff.max()))
                stat["sum_abs"] += float(diff.sum())
                stat["count"] += diff.size
            bar.update()
    entries = []
    for i, (label, runner, stat) in enumerate(zip(labels, runners, stats)):
        entry = {"artifact": label, "backend": runner.backend, "model": runner.info.name,
                 "precision": getattr(runner.info, "precision", None),
                 "input_size": list(runner.info.input_size), "reference": i == 0}
        if i:
            has_logits = stat["logits"] and stat["max_abs"] is not None
            entry.update({
                "max_abs_logit_diff": stat["max_abs"] if has_logits else None,
                "mean_abs_logit_diff": stat["sum_abs"] / stat["count"] if has_logits else None,
                "agreement": metrics.pixel_accuracy(stat["conf"]),
                "min_image_agreement": stat["min_image"],
                "miou_vs_reference": metrics.mean_iou(metrics.per_class_iou(stat["conf"])),
            })
        entries.append(entry)
    return {"images": len(frames), "artifacts": entries}


class CompareResult(NamedTuple("CompareResult", [("report", dict), ("failures", List[str]), ("skipped", list),
                                                  ("images", int)])):
    """`compare`: the report (compare_runners, each entry marked ok/failed by check_tolerances; what
    --json writes), the tolerances exceeded (empty: all within), the images that could not be read
    ([(path, UserError)], skipped with a warning) out of ``images``."""
    __slots__ = ()

    @property
    def passed(self):
        return not self.failures


def read_frames(paths):
    """-> (frames, [(path, error)]): a bad image is skipped and named, the others are compared."""
    frames, failed = [], []
    for path in paths:
        try:
            frames.append(read_image(path))
        except UserError as exc:
            failed.append((path, exc))
            if len(paths) > 1:
                log.warning("skipped %s: %s", path, exc)
    if not frames:
        raise batch_error("image", "read", len(paths), failed, "nothing was compared")
    return frames, failed


def check_request(artifacts, min_agreement=DEFAULT_MIN_AGREEMENT, min_miou=None):
    """Two artifacts at least, fractions between 0 and 1: before any file is read."""
    if len(artifacts) < 2:
        raise UserError("name at least two artifacts to compare (the first is the reference)")
    for flag, value in (("--min-agreement", min_agreement), ("--min-miou", min_miou)):
        if value is not None and not 0.0 <= value <= 1.0:
            raise UserError("{} must be between 0 and 1".format(flag))


def compare(artifacts, images, size=None, threads=None, weights=None, min_agreement=DEFAULT_MIN_AGREEMENT,
            max_logit_diff=None, min_miou=None):
    """Run every artifact (open_artifacts' specs) on ``images`` (paths, or a folder or image path) and
    compare each with the first -> CompareResult."""
    check_request(artifacts, min_agreement, min_miou)
    paths = list_images([images]) if isinstance(images, str) else list(images)
    frames, failed = read_frames(paths)
    opened = open_artifacts(artifacts, size=size, threads=threads, weights=weights)
    try:
        report = compare_runners([r for _, r in opened], frames, labels=[label for label, _ in opened])
    finally:
        for _, runner in opened:
            runner.close()
    failures = check_tolerances(report, min_agreement, max_logit_diff, min_miou)
    return CompareResult(report, failures, failed, len(paths))


def check_tolerances(report, min_agreement=DEFAULT_MIN_AGREEMENT, max_logit_diff=None, min_miou=None):
    """Mark each compared entry ok/failed; -> list of failure strings (empty: all within tolerance).

    ``max_logit_diff`` None: DEFAULT_MAX_LOGIT_DIFF_FP32 where both artifacts are fp32, else unchecked.
    """
    failures = []
    ref = report["artifacts"][0]
    for entry in report["artifacts"][1:]:
        problems = []
        if min_agreement is not None and entry["agreement"] < min_agreement:
            problems.append("mask agreement {:.4%} < {:.4%}".format(entry["agreement"], min_agreement))
        bound = max_logit_diff
        if bound is None and entry.get("precision") in (None, "fp32") and ref.get("precision") in (None, "fp32"):
            bound = DEFAULT_MAX_LOGIT_DIFF_FP32
        entry["logit_bound"] = bound
        diff = entry["max_abs_logit_diff"]
        if bound is not None and diff is not None and diff > bound:
            problems.append("max |logit diff| {:.3g} > {:.3g}".format(diff, bound))
        if min_miou is not None and entry["miou_vs_reference"] < min_miou:
            problems.append("mIoU vs reference {:.4%} < {:.4%}".format(entry["miou_vs_reference"], min_miou))
        entry["ok"] = not problems
        entry["problems"] = problems
        failures.extend("{}: {}".format(entry["artifact"], p) for p in problems)
    return failures


def format_report(report):
    header = ("artifact", "backend", "precision", "size", "max|dlogit|", "mean|dlogit|", "agreement",
              "min image", "mIoU vs 1st", "status")
    rows = [header]
    for entry in report["artifacts"]:
        size = format_size(entry["input_size"])
        if entry["reference"]:
            rows.append((entry["artifact"], entry["backend"], str(entry["precision"]), size,
                         "reference", "", "", "", "", ""))
            continue
        rows.append((entry["artifact"], entry["backend"], str(entry["precision"]), size,
                     _sci(entry["max_abs_logit_diff"]), _sci(entry["mean_abs_logit_diff"]),
                     "{:.4%}".format(entry["agreement"]), "{:.4%}".format(entry["min_image_agreement"]),
                     "{:.4%}".format(entry["miou_vs_reference"]),
                     "ok" if entry.get("ok", True) else "FAIL"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows]
    lines.append("{} images".format(report["images"]))
    return "\n".join(lines)


def _sci(value):
    return "n/a" if value is None else "{:.3g}".format(value)
