"""Accuracy of any runner on a labelled dataset: confusion matrix, per-class IoU, mIoU, class average
(mean per-class recall), the Cityscapes 7-category mIoU, pixel accuracy and per-image agreement, and the
authors' published figures beside the measured ones where data set, split and input size match.

Predictions are made at the network size and resized (nearest) to the label's size.
For Cityscapes models (20 classes, index 19 = "background") the 19 train IDs are evaluated and a
prediction of 19 on a labelled pixel counts as "no class": a miss (false negative) for the true
class and a false positive for none.

Conventions (``count_void``): "standard" leaves the pixels of the format's ignore label out (the default,
what cityscapesScripts computes); "void-counted" counts an ignore-labelled pixel predicted as class c as a
false positive of c (the ESPNet authors' CamVid figures). Both come from the same pass: the confusion
matrix plus ``void_predictions`` (ignore-labelled pixels per predicted class), both in the JSON.
"""

import logging

import numpy as np

from espnet_edge import published
from espnet_edge.apps import metrics
from espnet_edge.apps.datasets import IGNORE, is_camvid_model, is_cityscapes_model, label_space, load_labels
from espnet_edge.errors import UserError
from espnet_edge.images import read_image
from espnet_edge.utils.progress import Progress

log = logging.getLogger(__name__)

STANDARD, VOID_COUNTED = published.CONVENTIONS
# eval's --format -> the zoo's dataset name (the masks layout names no data set)
DATASET_OF_FORMAT = {"cityscapes": "cityscapes", "voc": "pascal", "camvid": "camvid"}


def check_model_fits(info, dataset):
    """UserError when the layout needs another kind of model, or --ignore-index hides one of its classes."""
    if dataset.format == "cityscapes" and not is_cityscapes_model(info):
        raise UserError("the Cityscapes layout needs a Cityscapes model (19 train IDs + background); "
                        "{} predicts {} classes".format(info.name, len(info.classes)))
    if dataset.format == "camvid" and not is_camvid_model(info):
        raise UserError("the CamVid layout needs a CamVid model (11 classes + void, e.g. espnet-q8-camvid); "
                        "{} predicts {} classes".format(info.name, len(info.classes)))
    space = label_space(info)
    if dataset.ignore_index != IGNORE and dataset.ignore_index < space.num_eval:
        raise UserError("--ignore-index {} is class {!r} of {}: its pixels would not be evaluated; give the "
                        "value your masks use for unlabelled pixels".format(
                            dataset.ignore_index, space.classes[dataset.ignore_index], info.name))
    return space


def evaluate(segmenter, dataset, progress=None, limit=None, count_void=False):
    """-> result dict (see ``summarise``). ``progress``: None = bar when stderr is a terminal.
    ``count_void``: the headline figures in the authors' convention (void predictions count against a class)."""
    info = segmenter.info
    space = check_model_fits(info, dataset)
    samples = dataset.samples[:limit] if limit else dataset.samples
    conf = np.zeros((space.num_eval, space.num_pred), dtype=np.int64)
    void_pred = np.zeros(space.num_pred, dtype=np.int64)
    per_image, failed = [], []
    with Progress(len(samples), "eval", enabled=progress) as bar:
        for image_path, label_path in samples:
            try:   # a bad image or label is skipped and named; the others are still evaluated
                image_conf, image_void = _one_sample(segmenter, dataset, space, image_path, label_path)
            except UserError as exc:
                failed.append({"image": image_path, "label": label_path, "error": str(exc)})
                log.warning("skipped %s: %s", image_path, exc)
                bar.update()
                continue
            conf += image_conf
            void_pred += image_void
            per_image.append({"image": image_path, "label": label_path,
                              "agreement": _round(metrics.pixel_accuracy(image_conf)),
                              "miou": _round(metrics.mean_iou(metrics.per_class_iou(
                                  image_conf, image_void if count_void else None))),
                              "pixels": int(image_conf.sum())})
            bar.update()
    result = summarise(conf, space, per_image, dataset, info, void_pred, count_void)
    result["published"] = beside_published(result, info, dataset, conf, void_pred, space,
                                           complete=len(samples) == len(dataset.samples) and not failed)
    result["failed"] = failed
    return result


def check_dataset(dataset, info):
    """UserError, before any work, when ``dataset``'s layout holds labels of other classes than the model
    ``info`` predicts (or its --ignore-index hides one of them)."""
    check_model_fits(info, dataset)


def _one_sample(segmenter, dataset, space, image_path, label_path):
    """-> (confusion matrix, void predictions) of one image against its label; UserError for a bad file."""
    labels = load_labels(dataset, label_path, space)
    frame = read_image(image_path)
    if frame.shape[:2] != labels.shape[:2]:
        raise UserError("{} is {}x{} but its label {} is {}x{}; they must match".format(
            image_path, frame.shape[1], frame.shape[0], label_path, labels.shape[1], labels.shape[0]))
    pred = segmenter.segment(frame)
    if int(pred.max()) >= space.num_pred:
        raise UserError("{} predicted class {} but has only {} classes".format(
            segmenter.info.name, int(pred.max()), space.num_pred))
    return (metrics.confusion_matrix(labels, pred, space.num_eval, space.num_pred, IGNORE),
            metrics.void_predictions(labels, pred, space.num_pred, IGNORE))


def figures(conf, space, void_pred=None, count_void=False):
    """The headline metrics of one convention: {miou, class_average, pixel_accuracy, per_class_iou [, category]}."""
    void_fp = void_pred if count_void and void_pred is not None else None
    iou = metrics.per_class_iou(conf, void_fp)
    out = {"miou": metrics.mean_iou(iou), "class_average": metrics.class_average(conf),
           "pixel_accuracy": metrics.pixel_accuracy(conf), "per_class_iou": iou,
           "per_class_accuracy": metrics.per_class_recall(conf)}
    if space.categories:
        cat_conf = metrics.group_confusion(conf, space.category_of, len(space.categories))
        cat_void = None if void_fp is None else metrics.group_counts(void_fp, space.category_of,
                                                                     len(space.categories))
        out["per_category_iou"] = metrics.per_class_iou(cat_conf, cat_void)
        out["category_miou"] = metrics.mean_iou(out["per_category_iou"])
    return out


def summarise(conf, space, per_image, dataset, info, void_pred=None, count_void=False):
    found = figures(conf, space, void_pred, count_void)
    result = {
        "model": info.name, "precision": getattr(info, "precision", None), "dataset": dataset.root,
        "format": dataset.format, "split": dataset.split, "images": len(per_image),
        "input_size": list(info.input_size) if getattr(info, "input_size", None) else None,
        "fused": list(getattr(info, "fused", ())),
        "frame_dtype": getattr(info, "frame_dtype", None) if getattr(info, "frame_size", None) else None,
        "classes": list(space.eval_classes),
        "convention": VOID_COUNTED if count_void else STANDARD, "ignored": dataset.ignored,
        "miou": _round(found["miou"]),
        "class_average": _round(found["class_average"]),
        "pixel_accuracy": _round(found["pixel_accuracy"]),
        "per_class_iou": {name: _round(v) for name, v in zip(space.eval_classes, found["per_class_iou"])},
        "per_class_accuracy": {name: _round(v) for name, v in zip(space.eval_classes, found["per_class_accuracy"])},
        "confusion": conf.tolist(),
        "void_predictions": None if void_pred is None else [int(v) for v in void_pred],
        "per_image": per_image,
    }
    if space.num_pred > space.num_eval:
        result["no_class_predictions"] = list(space.classes[space.num_eval:])
    if space.categories:
        result["category_miou"] = _round(found["category_miou"])
        result["per_category_iou"] = {name: _round(v) for name, v in zip(space.categories, found["per_category_iou"])}
    return result


def _zoo_figures(info):
    """The zoo's published figures for the checkpoint ``info`` runs; () for another checkpoint."""
    from espnet_edge import zoo

    try:
        entry = zoo.get_model(info.name)
    except UserError:
        return ()
    sha = getattr(info, "checkpoint_sha256", None)
    if sha and entry.sha256 and sha != entry.sha256:
        return ()  # --weights of the user's: the authors' figures are for their checkpoint
    return entry.published


def beside_published(result, info, dataset, conf, void_pred, space, complete=True):
    """Each published figure of this checkpoint on this data set, split and input size, beside the value
    measured in the figure's own convention: [{metric, convention, published, measured, difference, ...}]."""
    name = DATASET_OF_FORMAT.get(dataset.format)
    if not name or not dataset.split:
        return []
    size = getattr(info, "input_size", None)
    out = []
    for figure in published.matching(_zoo_figures(info), name, dataset.split, size):
        measured = figures(conf, space, void_pred, figure.convention == VOID_COUNTED).get(figure.metric)
        measured = None if measured is None or np.isnan(measured) else float(measured)
        out.append({"metric": figure.metric, "convention": figure.convention,
                    "published": figure.fraction, "printed": figure.printed,
                    "measured": _round(measured),
                    "difference": None if measured is None else _round(measured - figure.fraction),
                    "whole_split": bool(complete), "source": figure.source.to_dict(),
                    "cite": figure.source.cite(), "note": figure.note})
    return out


def _round(value, digits=6):
    if value is None:
        return None
    value = float(value)
    return None if np.isnan(value) else round(value, digits)


def format_report(result):
    lines = ["{} on {} ({} layout{}, {} images; ignored: {})".format(
        result["model"], result["dataset"], result["format"],
        ", split " + result["split"] if result["split"] else "", result["images"], result["ignored"])]
    width = max(len(name) for name in result["per_class_iou"])
    lines.append("  {}  {}  {}".format("class".ljust(width), "   IoU ", "accuracy"))
    for name, value in result["per_class_iou"].items():
        lines.append("  {}  {}  {}".format(name.ljust(width), _pct(value),
                                           _pct(result["per_class_accuracy"].get(name))))
    if "per_category_iou" in result:
        lines.append("categories:")
        for name, value in result["per_category_iou"].items():
            lines.append("  {}  {}".format(name.ljust(width), _pct(value)))
    lines.append("mIoU {}  class average {}  pixel accuracy {}{}".format(
        _pct(result["miou"]), _pct(result["class_average"]), _pct(result["pixel_accuracy"]),
        "  (void counted: the authors' convention)" if result["convention"] == VOID_COUNTED else ""))
    if "category_miou" in result:
        lines.append("category mIoU {}".format(_pct(result["category_miou"])))
    return "\n".join(lines + format_published(result.get("published") or []))


def format_published(rows):
    """The 'measured beside published' block of the report (no lines without a matching figure)."""
    if not rows:
        return []
    lines = ["published beside measured (same data set, split and input size; measured in the figure's "
             "convention):", "  {:<16} {:>9} {:>10} {:>8}  source".format("metric", "measured", "published", "diff")]
    for row in rows:
        name = published.METRIC_NAMES[row["metric"]] + ("*" if row["convention"] == VOID_COUNTED else "")
        lines.append("  {:<16} {:>9} {:>10} {:>8}  {}".format(
            name, _pct(row["measured"]).strip(), row["printed"] + "%",
            "" if row["difference"] is None else "{:+.2f}".format(100.0 * row["difference"]), row["cite"]))
    if any(row["convention"] == VOID_COUNTED for row in rows):
        lines.append("  *: void-labelled pixels predicted as a class count against it (the authors' convention; "
                     "--count-void makes it the headline)")
    if not all(row["whole_split"] for row in rows):
        lines.append("  note: measured on part of the split (--limit); the published figures are for all of it")
    return lines


def _pct(value):
    return "   n/a" if value is None else "{:6.2f}%".format(100.0 * value)
