"""QDQ INT8 the way TensorRT's explicit quantization takes it, with the Convs that INT8 hurts most kept
in float (mixed precision).

- The graph itself (Q/DQ on Conv inputs only, symmetric, per-channel weights, float side inputs, the
  lossless pixel input): ``int8_qdq``; cross-layer equalisation: ``int8_equalize``.
- Which Convs stay float: a one-Conv-at-a-time sensitivity scan on calibration frames orders them
  (``sensitivity``), then either the ``keep_float`` first stay float, or, given a judge with a target
  (``int8_judge``: mask agreement with fp32 on held-out frames, or the mIoU drop on labelled frames),
  the fewest that meet it (``choose_float_convs``).
"""

import os

import numpy as np

from espnet_edge import defaults
from espnet_edge.host.export.int8_qdq import (  # noqa: F401  (the names docs/DEVELOPING.md gives as int8.*)
    CALIB_METHODS, agreement, calibrate, class_maps, conv_names, float_side_inputs, per_class_iou, quantize)
from espnet_edge.host.export.int8_layers import layer_errors  # noqa: F401

SENSITIVITY_FRAMES = 4  # calibration frames (spread over them) the one-Conv-at-a-time scan is measured on


def scan_frames(batches, count=SENSITIVITY_FRAMES):
    """``count`` batches spread evenly over ``batches`` (first and last included): the scan sees more
    than two neighbouring frames of one sequence."""
    picks = sorted(set(int(round(i)) for i in np.linspace(0, len(batches) - 1, min(count, len(batches)))))
    return [batches[i] for i in picks]


def sensitivity(fp32_path, convs, batches, input_name, method, work, cache_path, progress=None):
    """-> [(agreement, conv name)], least agreement first: each Conv in ``convs`` quantized alone,
    the masks of ``scan_frames(batches)`` compared with fp32."""
    frames = scan_frames(batches)
    expected = class_maps(fp32_path, frames)
    scores = []
    tmp = os.path.join(work, "one-conv.onnx")
    for name in convs:
        quantize(fp32_path, tmp, batches, input_name, method, cache_path, nodes_to_quantize=[name])
        same = float(np.mean([np.mean(got == ref) for got, ref in zip(class_maps(tmp, frames), expected)]))
        scores.append((same, name))
        if progress is not None:
            progress.update()
    scores.sort(key=lambda item: item[0])
    return scores


def quantize_qdq(fp32_path, out_path, batches, method=defaults.CALIB_METHOD, keep_float=None, log=None, judge=None,
                 equalize=False):
    """Write the QDQ INT8 graph of ``fp32_path`` to ``out_path``; -> dict of what was done.

    ``keep_float`` N: the N Convs the scan finds most sensitive stay float (0: every Conv INT8, no scan).
    Otherwise ``judge`` (``int8_judge``, with a target) decides: the fewest Convs in scan order kept float
    that meet its target (``choose_float_convs``). ``equalize``: cross-layer equalisation of the
    activations Convs alone read first (``int8_equalize``; exact in float)."""
    import tempfile

    import onnx

    from espnet_edge.utils.progress import Progress

    log = log or (lambda text: None)
    model = onnx.load(fp32_path)
    input_name = model.graph.input[0].name
    convs = conv_names(model)
    if keep_float is None and judge is None:
        keep_float = 0
    with tempfile.TemporaryDirectory(prefix="espnet-edge-int8-") as work:
        equalized = {}
        if equalize:
            from espnet_edge.host.export.int8_equalize import equalize as equalize_activations
            from espnet_edge.host.export.pipeline import save_model

            equalized = equalize_activations(model, batches)
            fp32_path = save_model(model, os.path.join(work, "equalized.onnx"))
            log("INT8: equalised {} activation(s) read by Convs only".format(len(equalized)))
        cache = os.path.join(work, "ranges.json")  # calibrate once, reuse for every quantization
        with Progress(len(batches), "calibrating") as progress:
            calibrate(fp32_path, batches, input_name, method, cache, work, progress)
        done = {"convs": len(convs), "equalized": sorted(equalized), "float_convs": [], "sensitivity": []}
        if keep_float == 0:
            quantize(fp32_path, out_path, batches, input_name, method, cache)
            return done
        known = {}
        if judge is not None:  # every Conv INT8 first: when that meets the target, no scan is needed
            quantize(fp32_path, out_path, batches, input_name, method, cache)
            done["layer_errors"] = layer_errors(fp32_path, out_path, scan_frames(batches, 1))[:20]
            known[0] = judge.measure(out_path)
            log("INT8: keeping Convs in float until {}".format(target_text(judge)))
            log("  0 Conv(s) in float: {}".format(judge.line(known[0])))
            if judge.meets(known[0]):
                done.update(target_met=True, measurement=known[0], search=[dict(float_convs=0, **_brief(known[0]))])
                return done
        # the order: each Conv quantized alone on calibration frames (the tensor noise a Conv injects
        # ranked ESPNet's decisive Convs last at 1024x512; see docs/export.md)
        log("INT8 sensitivity scan: {} Conv(s), one at a time".format(len(convs)))
        with Progress(len(convs), "sensitivity") as progress:
            scan = sensitivity(fp32_path, convs, batches, input_name, method, work, cache, progress)
        order = [name for _, name in scan]
        done["sensitivity"] = [{"conv": name, "mask_agreement_alone": score} for score, name in scan[:10]]
        if judge is None:
            done["float_convs"] = order[:min(int(keep_float), len(order))]
            quantize(fp32_path, out_path, batches, input_name, method, cache, nodes_to_exclude=done["float_convs"])
            return done
        chosen = choose_float_convs(fp32_path, out_path, batches, order, method, cache, judge, log=log, known=known)
        done.update(float_convs=chosen["float_convs"], target_met=chosen["target_met"],
                    measurement=chosen["measurement"],
                    search=[dict(float_convs=k, **_brief(m)) for k, m in chosen["trace"]])
    return done


def target_text(judge):
    if judge.kind == "miou":
        return "the mIoU drop on {} labelled image(s) is at most {:g} points".format(
            len(judge.dataset.samples), judge.max_drop)
    return "{:.2%} held-out mask agreement with fp32".format(judge.target)


def _brief(measurement):
    """A search step's numbers without the per-frame / per-class detail."""
    return dict((k, v) for k, v in measurement.items() if k not in ("per_frame", "per_class_iou"))


def choose_float_convs(fp32_path, out_path, batches, order, method, cache_path, judge, log=None, known=None):
    """Keep the first k Convs of ``order`` in float, with the smallest k whose QDQ graph meets
    ``judge``'s target (measured on frames never calibrated on); k found by bisection (accuracy grows
    with k: checked at both ends first). Writes that graph to ``out_path``.

    ``known``: {k: measurement} already made. -> {'float_convs', 'measurement', 'target_met',
    'trace': [(k, measurement)]}."""
    import onnx

    log = log or (lambda text: None)
    input_name = onnx.load(fp32_path).graph.input[0].name
    tried = dict(known or {})

    def meets(k):
        if k not in tried:
            quantize(fp32_path, out_path, batches, input_name, method, cache_path, nodes_to_exclude=order[:k])
            tried[k] = judge.measure(out_path)
            log("  {} Conv(s) in float: {}".format(k, judge.line(tried[k])))
        return judge.meets(tried[k])

    low, high = 0, len(order)
    if meets(0):
        best = 0
    elif not meets(high):
        best = high
    else:
        while high - low > 1:  # the target is missed at low and met at high
            mid = (low + high) // 2
            if meets(mid):
                high = mid
            else:
                low = mid
        best = high
    quantize(fp32_path, out_path, batches, input_name, method, cache_path, nodes_to_exclude=order[:best])
    return {"float_convs": list(order[:best]), "measurement": tried[best], "target_met": judge.meets(tried[best]),
            "trace": sorted(tried.items())}
