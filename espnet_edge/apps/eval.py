"""Accuracy of any runner on a labelled dataset: confusion matrix, per-class IoU, mIoU,
the Cityscapes 7-category mIoU, pixel accuracy and per-image agreement.

Predictions are made at the network size and resized (nearest) to the label's size.
For Cityscapes models (20 classes, index 19 = "background") the 19 train IDs are evaluated and a
prediction of 19 on a labelled pixel counts as "no class": a miss (false negative) for the true
class and a false positive for none.
"""

import numpy as np

from espnet_edge.apps import metrics
from espnet_edge.apps.datasets import IGNORE, is_camvid_model, is_cityscapes_model, label_space, load_labels
from espnet_edge.errors import UserError
from espnet_edge.images import read_image
from espnet_edge.utils.progress import Progress


def evaluate(segmenter, dataset, progress=None, limit=None):
    """-> result dict (see ``summarise``). ``progress``: None = bar when stderr is a terminal."""
    info = segmenter.info
    check_dataset(dataset, info)
    space = label_space(info)
    samples = dataset.samples[:limit] if limit else dataset.samples
    conf = np.zeros((space.num_eval, space.num_pred), dtype=np.int64)
    per_image = []
    with Progress(len(samples), "eval", enabled=progress) as bar:
        for image_path, label_path in samples:
            labels = load_labels(dataset, label_path, space)
            frame = read_image(image_path)
            if frame.shape[:2] != labels.shape[:2]:
                raise UserError("{} is {}x{} but its label {} is {}x{}; they must match".format(
                    image_path, frame.shape[1], frame.shape[0], label_path, labels.shape[1], labels.shape[0]))
            pred = segmenter.segment(frame)
            if int(pred.max()) >= space.num_pred:
                raise UserError("{} predicted class {} but has only {} classes".format(
                    info.name, int(pred.max()), space.num_pred))
            image_conf = metrics.confusion_matrix(labels, pred, space.num_eval, space.num_pred, IGNORE)
            conf += image_conf
            per_image.append({"image": image_path, "label": label_path,
                              "agreement": _round(metrics.pixel_accuracy(image_conf)),
                              "miou": _round(metrics.mean_iou(metrics.per_class_iou(image_conf))),
                              "pixels": int(image_conf.sum())})
            bar.update()
    return summarise(conf, space, per_image, dataset, info)


def check_dataset(dataset, info):
    """UserError when ``dataset``'s layout holds labels of other classes than the model ``info`` predicts."""
    if dataset.format == "cityscapes" and not is_cityscapes_model(info):
        raise UserError("the Cityscapes layout needs a Cityscapes model (19 train IDs + background); "
                        "{} predicts {} classes".format(info.name, len(info.classes)))
    if dataset.format == "camvid" and not is_camvid_model(info):
        raise UserError("the CamVid layout needs a CamVid model (11 classes + void, e.g. espnet-q8-camvid); "
                        "{} predicts {} classes".format(info.name, len(info.classes)))


def summarise(conf, space, per_image, dataset, info):
    iou = metrics.per_class_iou(conf)
    result = {
        "model": info.name, "precision": getattr(info, "precision", None), "dataset": dataset.root,
        "format": dataset.format, "split": dataset.split, "images": len(per_image),
        "classes": list(space.eval_classes),
        "miou": _round(metrics.mean_iou(iou)),
        "pixel_accuracy": _round(metrics.pixel_accuracy(conf)),
        "per_class_iou": {name: _round(v) for name, v in zip(space.eval_classes, iou)},
        "confusion": conf.tolist(),
        "per_image": per_image,
    }
    if space.num_pred > space.num_eval:
        result["no_class_predictions"] = list(space.classes[space.num_eval:])
    if space.categories:
        cat_conf = metrics.group_confusion(conf, space.category_of, len(space.categories))
        cat_iou = metrics.per_class_iou(cat_conf)
        result["category_miou"] = _round(metrics.mean_iou(cat_iou))
        result["per_category_iou"] = {name: _round(v) for name, v in zip(space.categories, cat_iou)}
    return result


def _round(value, digits=6):
    value = float(value)
    return None if np.isnan(value) else round(value, digits)


def format_report(result):
    lines = ["{} on {} ({} layout{}, {} images)".format(
        result["model"], result["dataset"], result["format"],
        ", split " + result["split"] if result["split"] else "", result["images"])]
    width = max(len(name) for name in result["per_class_iou"])
    for name, value in result["per_class_iou"].items():
        lines.append("  {}  {}".format(name.ljust(width), _pct(value)))
    if "per_category_iou" in result:
        lines.append("categories:")
        for name, value in result["per_category_iou"].items():
            lines.append("  {}  {}".format(name.ljust(width), _pct(value)))
    lines.append("mIoU {}  pixel accuracy {}".format(_pct(result["miou"]), _pct(result["pixel_accuracy"])))
    if "category_miou" in result:
        lines.append("category mIoU {}".format(_pct(result["category_miou"])))
    return "\n".join(lines)


def _pct(value):
    return "   n/a" if value is None else "{:6.2f}%".format(100.0 * value)
