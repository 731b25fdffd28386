"""Segmentation metrics from a confusion matrix (numpy only).

The confusion matrix has one row per evaluated ground-truth class and one column per class the
model can predict (columns may outnumber rows: a Cityscapes model's class 19 "background" is a
prediction of *no* evaluated class). For class c:
    IoU_c = TP / (TP + FP + FN),  TP = conf[c, c],  FN = row c minus TP (includes predictions of
    "no class"),  FP = column c minus TP (over evaluated pixels only).
Pixels whose ground truth is the ignore label are left out: the standard metric. The ESPNet authors'
convention (``void_fp``, eval --count-void) adds ``void_predictions`` - how many ignore-labelled pixels
were predicted as each class - to that class's FP; void itself is never a class of the mean. mIoU
averages the classes with a non-empty union (classes absent from the ground truth and never predicted
are left out). Class average (the authors' "Class avg.") is the mean per-class recall TP / (TP + FN)
over the classes present in the ground truth; void predictions do not change it.
"""

import numpy as np

# Cityscapes labelIds (gtFine_labelIds.png, 0..33) -> the 19 train IDs; 255 = ignored in evaluation.
# From the official label table (cityscapesScripts labels.py).
CITYSCAPES_LABELID_TO_TRAINID = {
    7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10, 24: 11, 25: 12,
    26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18,
}
CITYSCAPES_MAX_LABELID = 33

# The 7 categories of the Cityscapes benchmark (train ID -> category), as reported in the ESPNet paper.
CITYSCAPES_CATEGORIES = ("flat", "construction", "object", "nature", "sky", "human", "vehicle")
CITYSCAPES_TRAINID_TO_CATEGORY = (0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 4, 5, 5, 6, 6, 6, 6, 6, 6)


def cityscapes_labelid_lut(ignore=255):
    """uint8 LUT[256]: labelId -> train ID (ignore for void classes)."""
    lut = np.full(256, ignore, dtype=np.uint8)
    for label_id, train_id in CITYSCAPES_LABELID_TO_TRAINID.items():
        lut[label_id] = train_id
    return lut


def confusion_matrix(gt, pred, num_gt, num_pred, ignore=255):
    """Counts [num_gt, num_pred]: row = ground-truth class, column = predicted class.

    gt values must be < num_gt or == ignore; pred values must be < num_pred.
    """
    gt = np.asarray(gt).ravel().astype(np.int64)
    pred = np.asarray(pred).ravel().astype(np.int64)
    if gt.shape != pred.shape:
        raise ValueError("ground truth and prediction differ in size")
    keep = gt != ignore
    gt, pred = gt[keep], pred[keep]
    if gt.size and (gt.max() >= num_gt or gt.min() < 0):
        raise ValueError("ground-truth label out of range")
    if pred.size and (pred.max() >= num_pred or pred.min() < 0):
        raise ValueError("prediction out of range")
    counts = np.bincount(gt * num_pred + pred, minlength=num_gt * num_pred)
    return counts.reshape(num_gt, num_pred)


def void_predictions(gt, pred, num_pred, ignore=255):
    """Counts [num_pred]: how many pixels labelled ``ignore`` were predicted as each class."""
    gt = np.asarray(gt).ravel()
    pred = np.asarray(pred).ravel().astype(np.int64)
    if gt.shape != pred.shape:
        raise ValueError("ground truth and prediction differ in size")
    return np.bincount(pred[gt == ignore], minlength=num_pred)[:num_pred]


def per_class_iou(conf, void_fp=None):
    """-> float array [num_gt]; NaN where the class never occurs in gt and is never predicted.
    ``void_fp``: void pixels predicted as each class (``void_predictions``), counted as its false positives."""
    conf = np.asarray(conf, dtype=np.float64)
    num_gt = conf.shape[0]
    tp = np.diag(conf[:, :num_gt])
    gt_total = conf.sum(axis=1)
    pred_total = conf[:, :num_gt].sum(axis=0)
    if void_fp is not None:
        pred_total = pred_total + np.asarray(void_fp, dtype=np.float64)[:num_gt]
    union = gt_total + pred_total - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, tp / np.where(union > 0, union, 1), np.nan)
    return iou


def mean_defined(values):
    """Mean over the non-NaN entries (per-class IoU or recall); NaN when none is defined."""
    values = np.asarray(values, dtype=np.float64)
    valid = ~np.isnan(values)
    return float(values[valid].mean()) if valid.any() else float("nan")


mean_iou = mean_defined


def per_class_recall(conf):
    """-> float array [num_gt]: TP / ground-truth pixels of each class (NaN where the class never occurs)."""
    conf = np.asarray(conf, dtype=np.float64)
    tp = np.diag(conf[:, :conf.shape[0]])
    gt_total = conf.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(gt_total > 0, tp / np.where(gt_total > 0, gt_total, 1), np.nan)


def class_average(conf):
    """Mean per-class recall over the classes present in the ground truth (the authors' "Class avg.")."""
    return mean_defined(per_class_recall(conf))


def pixel_accuracy(conf):
    conf = np.asarray(conf, dtype=np.float64)
    total = conf.sum()
    return float(np.trace(conf[:, :conf.shape[0]]) / total) if total else float("nan")


def group_confusion(conf, groups, num_groups):
    """Merge classes into groups: ``groups[c]`` is class c's group; columns past len(groups)
    (predictions of no evaluated class) stay in one extra "no group" column."""
    conf = np.asarray(conf)
    num_gt, num_pred = conf.shape
    groups = np.asarray(groups, dtype=np.int64)
    col_group = np.full(num_pred, num_groups, dtype=np.int64)
    col_group[:len(groups)] = groups
    extra = 1 if num_pred > len(groups) else 0
    out = np.zeros((num_groups, num_groups + extra), dtype=conf.dtype)
    for row in range(num_gt):
        np.add.at(out[groups[row]], col_group, conf[row])
    return out


def group_counts(counts, groups, num_groups):
    """Per-class counts (e.g. void predictions) summed per group; classes past len(groups) are dropped."""
    out = np.zeros(num_groups, dtype=np.asarray(counts).dtype)
    np.add.at(out, np.asarray(groups, dtype=np.int64), np.asarray(counts)[:len(groups)])
    return out


def agreement(gt, pred, ignore=255):
    """Fraction of non-ignored pixels where pred == gt (NaN when all are ignored)."""
    gt = np.asarray(gt)
    keep = gt != ignore
    count = int(keep.sum())
    return float((np.asarray(pred)[keep] == gt[keep]).sum()) / count if count else float("nan")
