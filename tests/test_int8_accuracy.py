"""Accuracy-aware INT8 at a small size (the full-size figure comes from scripts/int8_accuracy.py):
fp32-vs-QDQ tensor comparison per Conv, per-class IoU, frames split so held-out frames are never
calibrated on, float Convs chosen until a held-out agreement target is met, the IoU figure."""

import os

import numpy as np
import onnx
import pytest

from conftest import IMAGES
from espnet_edge import zoo
from espnet_edge.images import list_images, read_image

pytest.importorskip("onnxruntime.quantization")

SIZE = (128, 64)
MODEL = "espnetv2-s0.5-city-512"


@pytest.fixture(scope="module")
def setup(tmp_path_factory, shared):
    from espnet_edge.host.export import int8_qdq
    from espnet_edge.host.export.calibration_data import calibration_batches, split_frames
    from espnet_edge.host.export.pipeline import export_model
    from espnet_edge.host.export.verify import network_input
    from espnet_edge.runtime.tensorrt.onnxmeta import model_info

    work = str(tmp_path_factory.mktemp("int8acc"))
    report = export_model(zoo.get_model(MODEL), size=SIZE, out_dir=work)
    fp32 = report["onnx"]
    info = model_info(fp32)
    calib, held = split_frames(list_images(IMAGES))
    batches = calibration_batches(calib[:3], info, augment=False)
    held_batches = [network_input(read_image(p), info) for p in held[:3]]
    cache = os.path.join(work, "ranges")
    input_name = onnx.load(fp32).graph.input[0].name
    int8_qdq.calibrate(fp32, batches, input_name, "percentile", cache, work)
    qdq = os.path.join(work, "all-int8.onnx")
    int8_qdq.quantize(fp32, qdq, batches, input_name, "percentile", cache)
    return {"fp32": fp32, "qdq": qdq, "info": info, "batches": batches, "held": held_batches, "cache": cache,
            "work": work, "calib_paths": calib, "held_paths": held}


def test_split_keeps_held_out_frames_out_of_calibration():
    from espnet_edge.host.export.calibration_data import split_frames

    paths = list_images(IMAGES)
    calib, held = split_frames(paths)
    assert not set(calib) & set(held) and sorted(calib + held) == sorted(paths)
    for folder in set(os.path.dirname(p) for p in paths):  # every kind of scene on both sides
        assert any(os.path.dirname(p) == folder for p in calib) and any(os.path.dirname(p) == folder for p in held)


@pytest.mark.slow
def test_layer_errors_compare_every_conv(setup):
    from espnet_edge.host.export.int8_layers import layer_errors
    from espnet_edge.host.export.int8_qdq import conv_names, folded_input_convs

    rows = layer_errors(setup["fp32"], setup["qdq"], setup["batches"][:1])
    assert sorted(r["conv"] for r in rows) == sorted(conv_names(onnx.load(setup["fp32"])))
    injected = [r["injected"] for r in rows]
    assert injected == sorted(injected, reverse=True)
    # every quantized Conv adds int8 rounding to its input and its weights, except the first Conv's
    # input: raw pixels - 128, int8-exact (int8_input)
    folded = set(folded_input_convs(setup["qdq"]))
    assert folded == {conv_names(onnx.load(setup["fp32"]))[0]}
    assert all((r["activation_noise"] < 1e-6) == (r["conv"] in folded) and r["weight_noise"] > 0 for r in rows)
    # int8 noise is a small fraction of the signal where it is injected (127 levels per side)
    assert all(r["activation_noise"] < 0.5 and r["weight_noise"] < 0.1 for r in rows)
    assert max(r["output_error"] for r in rows) > 0.01


@pytest.mark.slow
def test_per_class_iou_and_agreement(setup):
    from espnet_edge.host.export.int8_qdq import agreement, class_maps, per_class_iou

    ref = class_maps(setup["fp32"], setup["held"])
    got = class_maps(setup["qdq"], setup["held"])
    classes = list(setup["info"].classes)
    same = per_class_iou(ref, ref, classes)
    present = set(int(c) for m in ref for c in np.unique(m))
    assert all(same[classes[c]] == 1.0 for c in present)
    assert all(same[name] is None for i, name in enumerate(classes) if i not in present)
    iou = per_class_iou(ref, got, classes)
    assert all(v is None or 0.0 <= v <= 1.0 for v in iou.values())
    value = agreement(ref, got)
    assert agreement(ref, ref) == 1.0 and 0.5 < value < 1.0


@pytest.mark.slow
def test_float_convs_chosen_until_held_out_target(setup):
    from espnet_edge.host.export.int8 import choose_float_convs
    from espnet_edge.host.export.int8_judge import AgreementJudge
    from espnet_edge.host.export.int8_layers import layer_errors
    from espnet_edge.host.export.int8_qdq import agreement, class_maps, float_convs_of

    order = [r["conv"] for r in layer_errors(setup["fp32"], setup["qdq"], setup["batches"][:1])]
    start = agreement(class_maps(setup["fp32"], setup["held"]), class_maps(setup["qdq"], setup["held"]))
    target = min(0.999, start + (1 - start) / 2)  # halfway from all-INT8 to fp32: needs some float Convs
    judge = AgreementJudge(setup["fp32"], setup["held"], setup["held_paths"][:len(setup["held"])], target=target)
    out = os.path.join(setup["work"], "chosen.onnx")
    chosen = choose_float_convs(setup["fp32"], out, setup["batches"], order, "percentile", setup["cache"], judge)
    assert chosen["target_met"] and chosen["measurement"]["agreement"] >= target
    k = len(chosen["float_convs"])
    assert 0 < k <= len(order) and chosen["float_convs"] == order[:k]
    # the graph written is the chosen one: the Convs whose weights are not int8 are exactly the float ones
    assert set(float_convs_of(onnx.load(out))) == set(chosen["float_convs"])
    trace = dict((kk, m["agreement"]) for kk, m in chosen["trace"])
    assert trace[k] >= target and all(v < target for kk, v in trace.items() if kk < k)
    assert trace[0] == pytest.approx(start)


@pytest.mark.slow
def test_class_iou_figure(setup, tmp_path):
    from espnet_edge.host.export.int8_judge import plot_class_iou

    classes = list(setup["info"].classes)
    path = plot_class_iou(str(tmp_path / "iou.png"), classes,
                          {"fp16": {classes[0]: 0.99, classes[1]: 0.9}, "INT8": {classes[0]: 0.95, classes[1]: None}},
                          "test")
    with open(path, "rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_export_int8_target_keeps_float_convs_and_records_them(tmp_path, shared):
    from conftest import PHOTOS, TRT_SUPPORT, run_main

    out = str(tmp_path)
    result = run_main("export", "--model", "espnet-c-q3", "--size", "128x64", "--int8", "--calib", PHOTOS,
                      "--no-calib-augment", "--int8-target", "0.97", "--out", out,
                      env={"ESPNET_EDGE_TRT_SUPPORT": TRT_SUPPORT})
    assert result.returncode == 0, result.stderr
    path = os.path.join(out, "espnet-c-q3-128x64-int8.onnx")
    import json

    report = json.load(open(path + ".report.json"))["quantization"]
    assert report["target"] == 0.97 and report["target_met"]
    search = {row["float_convs"]: row["agreement"] for row in report["search"]}
    assert search[len(report["float_convs"])] >= 0.97
    props = {p.key: p.value for p in onnx.load(path).metadata_props}
    assert json.loads(props["espnet_edge.int8_float_convs"]) == report["float_convs"]
    assert "held-out mask agreement" in result.stdout


def test_export_int8_target_must_be_a_fraction(tmp_path):
    from conftest import PHOTOS, run_main

    result = run_main("export", "--model", "espnet-c-q8", "--int8", "--calib", PHOTOS, "--int8-target", "99",
                      "--out", str(tmp_path))
    assert result.returncode == 2 and "--int8-target" in result.stderr and "Traceback" not in result.stderr
    assert not os.listdir(str(tmp_path))


def test_calibration_views_only_up_to_a_frame_budget():
    """Few images get their crops and mirrors, many real frames need none (CamVid's 69: 966 frames
    with every view took 8 minutes at 480x360)."""
    from espnet_edge.host.export.calibration_data import AUGMENT_UNTIL, AUGMENTATIONS, views_per_image

    assert len(AUGMENTATIONS) == 14
    assert AUGMENTATIONS[:3] == [("full", False), ("full", True), ("crop0.75-centre", False)]
    assert [views_per_image(n) for n in (1, 2, 5, 10, 32, 64, 69, 500)] == [14, 14, 13, 7, 2, 1, 1, 1]
    assert views_per_image(1, augment=False) == 1
    assert all(n * views_per_image(n) >= min(AUGMENT_UNTIL, 14 * n) for n in range(1, 100))


def test_conv_macs_and_float_share(setup):
    """MACs per Conv from weight shapes and output sizes (checked by hand on the first Conv), the same
    counts read through a QDQ graph's DequantizeLinear weights, and the float share of a choice."""
    from espnet_edge.host.export.int8_layers import conv_macs, float_share
    from espnet_edge.host.export.int8_qdq import conv_names, folded_input_convs

    fp32 = onnx.load(setup["fp32"])
    macs = conv_macs(fp32)
    first = next(n for n in fp32.graph.node if n.op_type == "Conv")
    weight = next(i for i in fp32.graph.initializer if i.name == first.input[1])
    strides = next(a.ints for a in first.attribute if a.name == "strides")
    out_h, out_w = SIZE[1] // strides[0], SIZE[0] // strides[1]  # padded 3x3: ceil(size / stride)
    assert macs[first.name] == out_h * out_w * int(np.prod(weight.dims))
    assert set(conv_names(fp32)) <= set(macs)
    through_qdq = conv_macs(onnx.load(setup["qdq"]))
    folded = folded_input_convs(setup["qdq"])  # reads 3 pixel channels + a constant one (int8_input)
    assert folded == [first.name] and through_qdq[first.name] == macs[first.name] * 4 // 3
    assert all(through_qdq[name] == macs[name] for name in conv_names(fp32) if name not in folded)
    nothing, everything = float_share(setup["fp32"], []), float_share(setup["fp32"], conv_names(fp32))
    assert nothing["float_fraction"] == 0 and everything["float_fraction"] == 1.0  # ESPNetv2: no ConvTranspose
    assert everything["network_gmacs"] == pytest.approx(sum(macs[n] for n in conv_names(fp32)) / 1e9, abs=1e-4)
