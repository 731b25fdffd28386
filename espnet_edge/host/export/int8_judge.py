"""How an INT8 graph is judged against its fp32 graph, always on frames it was never calibrated on.

- ``LabelledJudge`` (``export --int8-labels DIR``): mIoU against the ground truth of a labelled dataset
  in any `espnet-edge eval` layout, fp32 and INT8 each measured exactly as `eval` does
  (``apps.eval.evaluate``: the same label reading, ignore labels and IoU); a target is a largest mIoU
  drop in points (``--int8-target-miou-drop``). This is the number a user publishes.
- ``AgreementJudge``: the share of pixels whose class the INT8 graph gives as fp32 does, on held-out
  images (no labels needed). Where the fp32 network itself is unstable (out-of-domain photos: one grey
  level of noise moves 4-12% of its mask, ``noise_floor.py``) it is a diagnostic, not a target.

Each judge has ``measure(path) -> dict``, ``meets(measurement)`` (True without a target), ``line(m)``
(the log line) and ``describe()`` (what judged, for the report).
"""

import os

from espnet_edge.errors import UserError
from espnet_edge.host.export.int8_qdq import agreement, class_maps


class AgreementJudge(object):
    """Mask agreement with fp32 on ``batches`` (preprocessed held-out frames named by ``names``), the
    target on all pixels. Also measured, as a diagnostic: the agreement on the pixels whose fp32 class
    one grey level of input noise does not move (``noise_floor``); a target on those alone chose too
    few float Convs for the unseen Cityscapes frames (docs/export.md)."""

    kind = "agreement"

    def __init__(self, fp32_path, batches, names, target=None):
        from espnet_edge.host.export.noise_floor import plus_minus_one_grey
        from espnet_edge.runtime.tensorrt.onnxmeta import model_info

        info = model_info(fp32_path)
        self.batches = list(batches)
        self.names = list(names)
        self.target = target
        self.classes = len(info.classes)
        self.reference = class_maps(fp32_path, self.batches)
        moved = class_maps(fp32_path, [plus_minus_one_grey(b, info, seed=i) for i, b in enumerate(self.batches)])
        self.stable = [r == m for r, m in zip(self.reference, moved)]

    def measure(self, path):
        from espnet_edge.host.export.noise_floor import stable_agreement
        from espnet_edge.host.export.verify import miou_vs_reference

        maps = class_maps(path, self.batches)
        return {"agreement": agreement(self.reference, maps),
                "stable_agreement": stable_agreement(self.reference, maps, self.stable),
                "miou_vs_fp32": miou_vs_reference(self.reference, maps, self.classes),
                "per_frame": [{"image": name, "mask_agreement": agreement([r], [m]),
                               "stable_agreement": stable_agreement([r], [m], [s])}
                              for name, r, m, s in zip(self.names, self.reference, maps, self.stable)]}

    def meets(self, measurement):
        return self.target is None or measurement["agreement"] >= self.target

    def line(self, measurement):
        return "held-out mask agreement {:.4f} ({:.4f} on pixels one grey level does not move)".format(
            measurement["agreement"], measurement["stable_agreement"])

    def describe(self):
        return {"by": "held-out mask agreement with fp32", "images": self.names, "target": self.target,
                "stable_pixels": float(sum(s.sum() for s in self.stable)) / sum(s.size for s in self.stable)}


class LabelledJudge(object):
    """mIoU of fp32 and INT8 on a labelled ``dataset`` (apps.datasets.Dataset), its samples whose
    image is one of ``calibrated`` (paths) left out. Measures fp32 at once: every label is read and
    checked before any calibration work, and a bad one is the one-line error `eval` gives."""

    kind = "miou"

    def __init__(self, fp32_path, dataset, max_drop=None, calibrated=(), progress=None):
        from espnet_edge.apps.datasets import Dataset

        seen = set(os.path.realpath(p) for p in calibrated)
        samples = [s for s in dataset.samples if os.path.realpath(s[0]) not in seen]
        if not samples:
            raise UserError("every labelled image of {} was also calibrated on; give --int8-labels a split "
                            "that --calib does not hold (e.g. --int8-labels-split val)".format(dataset.root))
        self.dataset = Dataset(dataset.format, dataset.root, samples, dataset.split)
        self.excluded = len(dataset.samples) - len(samples)
        self.max_drop = max_drop
        self.fp32 = self._evaluate(fp32_path, progress)

    def _evaluate(self, path, progress=False):
        from espnet_edge.apps.eval import evaluate
        from espnet_edge.runtime.onnxruntime_runner import OnnxRuntimeRunner
        from espnet_edge.runtime.segmenter import Segmenter

        segmenter = Segmenter(OnnxRuntimeRunner(path, providers=["CPUExecutionProvider"]))
        try:
            return evaluate(segmenter, self.dataset, progress=progress)
        finally:
            segmenter.close()

    def measure(self, path):
        result = self._evaluate(path)
        return {"miou": result["miou"], "miou_drop": miou_drop(self.fp32["miou"], result["miou"]),
                "pixel_accuracy": result["pixel_accuracy"], "per_class_iou": result["per_class_iou"]}

    def meets(self, measurement):
        return self.max_drop is None or measurement["miou_drop"] <= self.max_drop

    def line(self, measurement):
        return "mIoU {:.2f}% (fp32 {:.2f}%, drop {:+.2f} points)".format(
            100 * measurement["miou"], 100 * self.fp32["miou"], measurement["miou_drop"])

    def describe(self):
        return {"by": "mIoU drop against ground truth (points)",
                "data": self.dataset.root, "format": self.dataset.format, "split": self.dataset.split,
                "images": len(self.dataset.samples), "left_out_calibrated": self.excluded,
                "fp32_miou": self.fp32["miou"], "target": self.max_drop}


def open_labels(root, fmt, split, info):
    """The labelled dataset that judges INT8 (``export --int8-labels``), checked before any work: its
    layout (apps.datasets.open_dataset), that its labels are of the model's classes
    (apps.eval.check_dataset) and that its first label reads as such (apps.datasets.load_labels)."""
    from espnet_edge.apps.datasets import label_space, load_labels, open_dataset
    from espnet_edge.apps.eval import check_dataset

    dataset = open_dataset(root, fmt, split)
    check_dataset(dataset, info)
    load_labels(dataset, dataset.samples[0][1], label_space(info))
    return dataset


def miou_drop(fp32_miou, int8_miou):
    """fp32 mIoU minus INT8 mIoU, in points (percent); negative when INT8 scores higher."""
    return round(100.0 * (fp32_miou - int8_miou), 4)


def summary_line(judged):
    """The export's printed line for a labelled judgement (``export_int8``'s report["judged"])."""
    line = ("INT8 judged on {} ({}{}, {} labelled image(s)): mIoU fp32 {:.2f}%, INT8 {:.2f}%, "
            "drop {:+.2f} points").format(
        judged["data"], judged["format"], ", split " + judged["split"] if judged["split"] else "", judged["images"],
        100 * judged["fp32_miou"], 100 * judged["int8_miou"], judged["miou_drop"])
    if judged.get("chose_float_convs"):
        line += " (the float Convs were chosen on these images: report on another split with `espnet-edge eval`)"
    return line


def plot_class_iou(path, classes, series, title):
    """Grouped bars: per-class IoU against fp32 for each ``series`` {label: {class: iou or None}}."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from espnet_edge.utils.atomic import atomic_path

    shown = [c for c in classes if any(s.get(c) is not None for s in series.values())]
    width = 0.8 / max(len(series), 1)
    fig, ax = plt.subplots(figsize=(max(6, 0.55 * len(shown) + 2), 4.2))
    for i, (label, values) in enumerate(series.items()):
        xs = [j + (i - (len(series) - 1) / 2.0) * width for j in range(len(shown))]
        ys = [values.get(c) if values.get(c) is not None else 0.0 for c in shown]
        ax.bar(xs, ys, width=width, label=label)
    ax.set_xticks(range(len(shown)))
    ax.set_xticklabels(shown, rotation=45, ha="right")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("IoU against the fp32 mask")
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return path
