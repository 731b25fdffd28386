"""INT8 graph details that decide accuracy: the first Conv reads raw pixels - 128 (lossless int8, the
normalisation folded into its weights, exact in float), float consumers of a quantized tensor get the
float tensor, cross-layer equalisation (exact in float), and the fp32 noise floor (+-1 grey level,
JPEG q95) on a real frame."""

import os

import numpy as np
import onnx
import pytest

from conftest import CITYSCAPES_IMAGES, IMAGES, PHOTOS, TRT_SUPPORT
from espnet_edge import zoo
from espnet_edge.images import list_images, read_image

pytest.importorskip("onnxruntime.quantization")

SIZE = (128, 64)
MODEL = "espnetv2-s0.5-city-512"  # resizes the uint8 image first: integer pixels at the network input


@pytest.fixture(scope="module")
def graphs(tmp_path_factory, shared):
    from espnet_edge.host.export import int8_qdq
    from espnet_edge.host.export.calibration_data import calibration_batches, split_frames
    from espnet_edge.host.export.pipeline import export_model
    from espnet_edge.runtime.tensorrt.onnxmeta import model_info

    work = str(tmp_path_factory.mktemp("int8input"))
    fp32 = export_model(zoo.get_model(MODEL), size=SIZE, out_dir=work)["onnx"]
    info = model_info(fp32)
    calib, held = split_frames(list_images(IMAGES))
    batches = calibration_batches(calib[:2], info, augment=False)
    input_name = onnx.load(fp32).graph.input[0].name
    cache = os.path.join(work, "ranges")
    int8_qdq.calibrate(fp32, batches, input_name, "percentile", cache, work)
    out = {"fp32": fp32, "info": info, "work": work}
    for label, kwargs in (("folded", {}), ("plain", {"lossless_input": False})):
        out[label] = os.path.join(work, label + ".onnx")
        int8_qdq.quantize(fp32, out[label], batches, input_name, "percentile", cache, **kwargs)
    return out


def _first_conv(model):
    return next(n for n in model.graph.node if n.op_type == "Conv")


def _conv(x, weight, bias, node):
    import torch
    import torch.nn.functional as F

    attrs = {a.name: list(a.ints) for a in node.attribute if a.ints}
    pads = attrs.get("pads", [0, 0, 0, 0])
    assert pads[:2] == pads[2:]
    return F.conv2d(torch.from_numpy(x), torch.from_numpy(weight), None if bias is None else torch.from_numpy(bias),
                    stride=attrs.get("strides", [1, 1]), padding=pads[:2],
                    dilation=attrs.get("dilations", [1, 1])).numpy()


@pytest.mark.slow
def test_pixels_minus_128_are_integers_of_the_network_input(graphs):
    from espnet_edge.host.export.int8_input import normalisation_affine
    from espnet_edge.host.export.verify import network_input

    a, b = normalisation_affine(graphs["info"].preprocess)
    batch = network_input(read_image(os.path.join(CITYSCAPES_IMAGES, "frankfurt_000000_000294_leftImg8bit.png")),
                          graphs["info"]).astype(np.float64)
    u = batch * a[None, :, None, None] + b[None, :, None, None]
    assert np.max(np.abs(u - np.round(u))) < 1e-3  # float32 normalisation of values up to 255
    pixels = np.round(u)
    assert pixels.min() >= -128 and pixels.max() <= 127 and len(np.unique(pixels)) > 100


@pytest.mark.slow
def test_fold_is_exact_in_float_borders_included(graphs):
    """conv(W, pad0(x)) == conv(W / a, pad0(u)) + conv(W4, pad0(ONES)): the constant channel carries the
    mean through the zero padding, so the border rows/columns match as well as the interior."""
    from espnet_edge.host.export.int8_input import ONES, fold_weights, normalisation_affine
    from espnet_edge.host.export.verify import network_input
    from onnx import numpy_helper

    model = onnx.load(graphs["fp32"])
    node = _first_conv(model)
    inits = {i.name: numpy_helper.to_array(i).astype(np.float64) for i in model.graph.initializer}
    weight, bias = inits[node.input[1]], inits[node.input[2]]
    a, b = normalisation_affine(graphs["info"].preprocess)
    x = network_input(read_image(os.path.join(PHOTOS, "sample2.jpg")), graphs["info"]).astype(np.float64)
    u = x * a[None, :, None, None] + b[None, :, None, None]
    ones = np.full((1, 1) + u.shape[2:], ONES)
    folded = fold_weights(weight, a, b)
    assert folded.shape == (weight.shape[0], weight.shape[1] + 1) + weight.shape[2:]
    expected = _conv(x, weight, bias, node)
    got = _conv(np.concatenate([u, ones], axis=1), folded, bias, node)
    assert np.max(np.abs(got - expected)) < 1e-9 * np.max(np.abs(expected))
    # an offset in the bias instead would be wrong exactly where the kernel overlaps the padding
    bias_only = _conv(u, folded[:, :-1].copy(), bias + ONES * folded[:, -1].sum(axis=(1, 2)), node)
    wrong = np.abs(bias_only - expected) > 1e-6 * np.max(np.abs(expected))
    assert wrong[:, :, 0, :].any() and not wrong[:, :, 1:-1, 1:-1].any()


def test_quantized_fold_keeps_the_offset_exact_away_from_borders():
    from espnet_edge.host.export.int8_input import ONES, quantize_folded

    rng = np.random.RandomState(0)
    folded = rng.normal(size=(8, 4, 3, 3))
    bias = rng.normal(size=8)
    quantized, scales, new_bias = quantize_folded(folded, bias)
    assert quantized.dtype == np.int8 and np.abs(quantized).max() <= 127 and scales.dtype == np.float32
    dequantized = quantized * scales[:, None, None, None].astype(np.float64)
    # int8 rounding: at most half a step per weight
    assert np.all(np.abs(dequantized - folded) <= 0.5 * scales[:, None, None, None] * (1 + 1e-6))
    # interior: the constant channel's contribution + bias is the float one
    want = bias + ONES * folded[:, -1].sum(axis=(1, 2))
    got = new_bias + ONES * dequantized[:, -1].sum(axis=(1, 2))
    assert np.allclose(got, want, rtol=0, atol=1e-5 * np.max(np.abs(want)))


@pytest.mark.slow
def test_qdq_graph_reads_raw_pixels_losslessly_and_passes_the_trt_82_check(graphs):
    from espnet_edge.host.export.int8_input import PIXELS, PREFIX
    from espnet_edge.host.export.pipeline import ort_session
    from espnet_edge.host.export.verify import network_input
    from espnet_edge.runtime import trt_support

    model = onnx.load(graphs["folded"])
    first = _first_conv(model)
    assert first.input[0] == PIXELS
    assert model.graph.input[0].name == onnx.load(graphs["fp32"]).graph.input[0].name  # input contract kept
    zero_points = [i for i in model.graph.initializer if "zero_point" in i.name]
    assert zero_points and all(not onnx.numpy_helper.to_array(z).any() for z in zero_points)
    trt_support.require_supported(model, "8.2", trt_support.load_support("8.2", TRT_SUPPORT), what="folded")
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    copy.graph.output.extend([onnx.helper.make_tensor_value_info(PREFIX + "/v", onnx.TensorProto.FLOAT, None),
                              onnx.helper.make_tensor_value_info(PIXELS, onnx.TensorProto.FLOAT, None)])
    session = ort_session(copy.SerializeToString())
    batch = network_input(read_image(os.path.join(PHOTOS, "sample4.jpg")), graphs["info"])
    before, after = session.run([PREFIX + "/v", PIXELS], {session.get_inputs()[0].name: batch})
    assert np.array_equal(after, np.round(before)) and np.max(np.abs(after - before)) < 1e-3
    assert np.all(after[:, -1] == 127)


@pytest.mark.slow
def test_float_consumers_read_the_float_tensor(graphs):
    """No node but an INT8 Conv reads an activation's DequantizeLinear (onnxruntime points all
    consumers at it); the folded graph's first Conv is the only reader of the pixel input's."""
    for path in (graphs["folded"], graphs["plain"]):
        model = onnx.load(path)
        producer = {o: n for n in model.graph.node for o in n.output}
        inits = set(i.name for i in model.graph.initializer)
        activation_dq = set(n.output[0] for n in model.graph.node
                            if n.op_type == "DequantizeLinear" and n.input[0] not in inits)
        assert activation_dq
        for node in model.graph.node:
            for name in node.input:
                if name in activation_dq:
                    assert node.op_type == "Conv" and producer[node.input[1]].op_type == "DequantizeLinear", node.name


@pytest.mark.slow
def test_layer_errors_see_no_activation_noise_on_the_folded_input(graphs):
    from espnet_edge.host.export.int8_layers import layer_errors
    from espnet_edge.host.export.verify import network_input

    first = _first_conv(onnx.load(graphs["fp32"])).name
    batch = network_input(read_image(os.path.join(PHOTOS, "sample1.jpg")), graphs["info"])
    rows = {r["conv"]: r for r in layer_errors(graphs["fp32"], graphs["folded"], [batch])}
    plain = {r["conv"]: r for r in layer_errors(graphs["fp32"], graphs["plain"], [batch])}
    assert rows[first]["activation_noise"] < 1e-6 < plain[first]["activation_noise"]
    assert 0 < rows[first]["weight_noise"] < 0.05
    # its output error is what its int8 weights cost, less than with the rounded normalised input
    assert rows[first]["output_error"] < plain[first]["output_error"]


@pytest.mark.slow
def test_noise_floor_on_a_real_frame(graphs):
    from espnet_edge.host.export.int8_input import normalisation_affine
    from espnet_edge.host.export.noise_floor import jpeg_reencoded, noise_floor, plus_minus_one_grey
    from espnet_edge.host.export.verify import network_input

    frame = read_image(os.path.join(PHOTOS, "sample6.jpg"))
    batch = network_input(frame, graphs["info"])
    moved = plus_minus_one_grey(batch, graphs["info"])
    a, _ = normalisation_affine(graphs["info"].preprocess)
    steps = (moved.astype(np.float64) - batch) * a[None, :, None, None]
    assert np.allclose(np.abs(steps), 1.0, atol=1e-3) and 0.4 < np.mean(steps > 0) < 0.6
    assert np.array_equal(moved, plus_minus_one_grey(batch, graphs["info"]))  # fixed seed
    reencoded = jpeg_reencoded(frame)
    difference = np.abs(reencoded.astype(int) - frame.astype(int))
    assert reencoded.shape == frame.shape and 0 < difference.mean() < 4
    stable = []
    rows = noise_floor(graphs["fp32"], [frame], graphs["info"], stable=stable)
    assert len(rows) == 1 and set(rows[0]) == {"grey_level", "jpeg95"}
    assert all(0.5 < v <= 1.0 for v in rows[0].values())
    # a stable pixel keeps its class under both perturbations: at most as many as either agreement allows
    assert len(stable) == 1 and stable[0].dtype == bool and stable[0].shape == (1, SIZE[1], SIZE[0])
    assert 0.5 < stable[0].mean() <= min(rows[0].values())


def test_stable_agreement_ignores_unstable_pixels():
    from espnet_edge.host.export.noise_floor import stable_agreement

    reference = np.zeros((1, 4, 4), np.int64)
    stable = np.ones((1, 4, 4), bool)
    stable[0, 0, :] = False
    moved = reference.copy()
    moved[0, 0, :] = 3  # differs only where fp32 itself is unstable
    assert stable_agreement([reference], [moved], [stable]) == 1.0
    moved[0, 1, 0] = 3
    assert stable_agreement([reference], [moved], [stable]) == 11 / 12.0


@pytest.mark.slow
def test_equalisation_is_exact_in_float_and_evens_out_channels(graphs, tmp_path):
    from espnet_edge.host.export.int8_equalize import candidates, channel_ranges, equalize
    from espnet_edge.host.export.pipeline import ort_session, save_model
    from espnet_edge.host.export.verify import network_input

    model = onnx.load(graphs["fp32"])
    found = candidates(model)
    assert found and all(all(u.op_type == "Conv" for u in users) for _, _, users in found)
    frames = [network_input(read_image(os.path.join(PHOTOS, name)), graphs["info"])
              for name in ("sample1.jpg", "sample3.jpg")]
    tensors = [tensor for _, tensor, _ in found]
    before = channel_ranges(model, tensors, frames)
    scales = equalize(model, frames)
    assert set(scales) == set(tensors) and all(np.all(s > 0) for s in scales.values())
    path = save_model(model, str(tmp_path / "equalized.onnx"))
    after = channel_ranges(model, tensors, frames)

    def spread(ranges):  # how unequal the channels are: largest / median channel range
        return np.median([np.max(r) / np.median(r[r > 0]) for r in ranges.values()])

    assert spread(after) < spread(before)
    reference, equalized = ort_session(graphs["fp32"]), ort_session(path)
    name = reference.get_inputs()[0].name
    for frame in frames:
        want = reference.run(None, {name: frame})[0]
        got = equalized.run(None, {name: frame})[0]
        assert np.max(np.abs(got - want)) < 1e-4 * np.max(np.abs(want))  # float32 reassociation only


@pytest.mark.slow
def test_quantize_qdq_equalizes_on_request(graphs, tmp_path):
    from espnet_edge.host.export.calibration_data import calibration_batches
    from espnet_edge.host.export.int8 import quantize_qdq
    from espnet_edge.host.export.int8_qdq import agreement, class_maps
    from espnet_edge.host.export.int8_equalize import candidates
    from espnet_edge.host.export.verify import network_input

    batches = calibration_batches([os.path.join(PHOTOS, "sample1.jpg")], graphs["info"], augment=False)
    out = str(tmp_path / "equalized-int8.onnx")
    done = quantize_qdq(graphs["fp32"], out, batches, keep_float=0, equalize=True)
    assert done["equalized"] == sorted(t for _, t, _ in candidates(onnx.load(graphs["fp32"])))
    plain = quantize_qdq(graphs["fp32"], str(tmp_path / "plain-int8.onnx"), batches, keep_float=0)
    assert plain["equalized"] == []
    # the equalised INT8 graph computes the original network: its weights differ, its masks agree
    held = [network_input(read_image(os.path.join(PHOTOS, "sample2.jpg")), graphs["info"])]
    assert 0.5 < agreement(class_maps(graphs["fp32"], held), class_maps(out, held)) <= 1.0
    a, b = (_int8_weights(path) for path in (out, str(tmp_path / "plain-int8.onnx")))
    assert set(a) == set(b) and any(not np.array_equal(a[k], b[k]) for k in a)


def _int8_weights(path):
    return {i.name: onnx.numpy_helper.to_array(i) for i in onnx.load(path).graph.initializer
            if i.name.endswith("_quantized")}
