"""The ONNX Runtime lowering of the uint8 overlay graph's tail (runtime/overlay_tail.py): it draws
the same bytes as the graph as exported, on real frames and for every pixel/colour pair, and it
leaves the graphs it does not fit alone."""

import numpy as np
import pytest

from espnet_edge import zoo
from espnet_edge.images import list_images, read_image

from conftest import CITYSCAPES_IMAGES, TRT_SUPPORT

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
pytest.importorskip("torch")

from espnet_edge.host.export import pipeline  # noqa: E402
from espnet_edge.runtime.onnxruntime_runner import OnnxRuntimeRunner  # noqa: E402
from espnet_edge.runtime.overlay_tail import lower_overlay_tail  # noqa: E402

FRAME_SIZE = (2048, 1024)
OTHER_RATIO = (1280, 720)  # not a multiple of the network size: the overlay's full-size Gather form


def _session(model):
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def _export(tmp_path_factory, frame_size=FRAME_SIZE, **extra):
    common = dict(size=(256, 128), fuse_pre=True, input_size=frame_size, support=TRT_SUPPORT)
    common.update(extra)
    out = tmp_path_factory.mktemp("tail")
    return pipeline.export_model(zoo.get_model("espnet-c-q3"), out_dir=str(out), **common)["onnx"]


@pytest.fixture(scope="module", params=[FRAME_SIZE, OTHER_RATIO], ids=["2048x1024", "1280x720"])
def uint8_graph(tmp_path_factory, request):
    return _export(tmp_path_factory, frame_size=request.param, overlay_alpha=0.5, frame_dtype="uint8",
                   trt_version="10"), request.param


@pytest.mark.slow
def test_lowered_tail_draws_the_same_bytes_on_real_and_random_frames(uint8_graph):
    import cv2

    path, frame_size = uint8_graph
    exported = onnx.load(path)
    lowered = onnx.load(path)
    assert lower_overlay_tail(lowered) == 1
    onnx.checker.check_model(lowered, full_check=True)
    ops = [node.op_type for node in lowered.graph.node]
    assert "QuantizeLinear" in ops and ops[-1] == "Concat"
    assert ops.count("Mul") == [node.op_type for node in exported.graph.node].count("Mul") - 1

    before, after = _session(exported), _session(lowered)
    name = before.get_inputs()[0].name
    frames = [cv2.resize(read_image(image), frame_size, interpolation=cv2.INTER_AREA)[None]
              for image in list_images([CITYSCAPES_IMAGES])]
    assert len(frames) >= 2
    frames.append(np.random.RandomState(7).randint(0, 256, (1, frame_size[1], frame_size[0], 3)).astype(np.uint8))
    for frame in frames:
        want = before.run(None, {name: frame})[0]
        got = after.run(None, {name: frame})[0]
        assert got.dtype == np.uint8 and got.shape == want.shape
        assert np.array_equal(got, want)


def test_quantize_linear_scale_two_rounds_as_the_truncating_cast_for_every_pair():
    """What the lowering rests on: ONNX Runtime's QuantizeLinear(f + c + 0.5, scale 2) is
    floor((f + c + 1) / 2) = the exported Cast(0.5 f + (0.5 c + 0.5)) for all f, c in 0..255."""
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [helper.make_node("QuantizeLinear", ["x", "scale", "zero"], ["y"])], "ql",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [256, 256])],
        [helper.make_tensor_value_info("y", TensorProto.UINT8, [256, 256])],
        [numpy_helper.from_array(np.array(2.0, np.float32), "scale"),
         numpy_helper.from_array(np.array(0, np.uint8), "zero")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    f, c = np.meshgrid(np.arange(256, dtype=np.float32), np.arange(256, dtype=np.float32), indexing="ij")
    got = _session(model).run(None, {"x": f + (c + np.float32(0.5))})[0]
    exported = (f * np.float32(0.5) + (c * np.float32(0.5) + np.float32(0.5))).astype(np.uint8)
    assert np.array_equal(got, exported)
    assert np.array_equal(got, ((f + c + 1) // 2).astype(np.uint8))


@pytest.mark.slow
def test_runner_reports_the_lowering(uint8_graph):
    runner = OnnxRuntimeRunner(uint8_graph[0], threads=1)
    assert runner.describe()["cpu_rewrites"].get("overlay_tail") == 1


@pytest.mark.parametrize("extra", [dict(overlay_alpha=0.4, frame_dtype="uint8", trt_version="10"),
                                   dict(overlay_alpha=0.5)], ids=["alpha-0.4", "float32-frames"])
@pytest.mark.slow
def test_graphs_the_lowering_does_not_fit_are_left_alone(tmp_path_factory, extra):
    path = _export(tmp_path_factory, **extra)
    model = onnx.load(path)
    original = model.SerializeToString()
    assert lower_overlay_tail(model) == 0
    assert model.SerializeToString() == original
    assert "overlay_tail" not in OnnxRuntimeRunner(path, threads=1).describe()["cpu_rewrites"]
