"""TensorRT keeps a frame graph's own layers (in-graph preprocessing, overlay) in float32 when a
reduced-precision flag is set (runtime/tensorrt/frame_precision.py): which layers are pinned is
decided on the layers TensorRT's ONNX parser makes from real exported graphs (named as onnx-tensorrt
names them, tests/trt_frame_drive.parsed_layers), and the calls are checked against NVIDIA's real
Python bindings (8.6, 10.13, 11.4) through the strict stand-ins of trt_strict.py. No GPU here: what
TensorRT then builds is not checked."""

import os

import pytest

from espnet_edge import zoo
from espnet_edge.runtime.tensorrt.frame_precision import LayerRecord, frame_layers, frame_plan

from conftest import TRT_SUPPORT

onnx = pytest.importorskip("onnx")
pytest.importorskip("torch")

from espnet_edge.host.export import pipeline  # noqa: E402

import trt_bindings  # noqa: E402
from trt_frame_drive import parsed_layers  # noqa: E402

pytestmark = pytest.mark.slow

HERE = os.path.dirname(os.path.abspath(__file__))
SIZE, FRAME_SIZE = (256, 128), (2048, 1024)
GRAPHS = {"espnet": ("espnet-c-q3", dict(fuse_pre=True, input_size=FRAME_SIZE, overlay_alpha=0.5)),
          "espnetv2-u8": ("espnetv2-s2.0-city-1024", dict(fuse_pre=True, input_size=FRAME_SIZE, overlay_alpha=0.5,
                                                          frame_dtype="uint8", trt_version="10")),
          "plain": ("espnet-c-q3", dict(fuse_post=True))}
# bindings -> the version paths checked on them (as in test_tensorrt_bindings_api.py)
PATHS = {"8.6": ["8.2.1.8", "8.6.1"], "10.13": ["10.3.0", "10.13.0.35"], "11.4": ["11.4.0.106"]}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    out = {}
    for key, (name, extra) in GRAPHS.items():
        folder = tmp_path_factory.mktemp("frame-trt")
        path = pipeline.export_model(zoo.get_model(name), out_dir=str(folder), size=SIZE, support=TRT_SUPPORT,
                                     **extra)["onnx"]
        out[key] = (path, parsed_layers(onnx.load(path)))
    return out


def _frame_names(layers):
    return set(layers[i].name for i in frame_layers(layers))


@pytest.mark.parametrize("key", ["espnet", "espnetv2-u8"])
def test_frame_layers_are_the_preprocessing_and_overlay_with_their_constants(exported, key):
    _, layers = exported[key]
    frame = _frame_names(layers)
    own = [l.name for l in layers if l.name.startswith(("/pre/", "/overlay/", "pre.", "overlay."))]
    assert own and set(own) <= frame
    assert "/Cast" in frame  # the frame to float
    assert not [n for n in frame if n.startswith(("/net/", "net.", "onnx::"))]
    # the parser's unnamed Shuffle after the overlay's ArgMax feeds only the overlay
    assert [n for n in frame if n.startswith("(Unnamed Layer*")]
    # the constants the preprocessing reads (Constant nodes and buffers) come with it
    assert [l.name for l in layers if l.kind == "CONSTANT" and l.name in frame]


def test_an_unnamed_helper_feeding_the_network_stays_the_networks():
    float_ = True
    layers = [LayerRecord("/pre/Conv", "CONVOLUTION", [("input", float_)], [("p", float_)]),
              LayerRecord("(Unnamed Layer* 1) [Shuffle]", "SHUFFLE", [("p", float_)], [("q", float_)]),
              LayerRecord("/net/Conv", "CONVOLUTION", [("q", float_)], [("logits", float_)]),
              LayerRecord("(Unnamed Layer* 3) [Constant]", "CONSTANT", [], [("c", float_)]),
              LayerRecord("/overlay/Mul", "ELEMENTWISE", [("logits", float_), ("c", float_)], [("o", float_)])]
    assert _frame_names(layers) == {"/pre/Conv", "(Unnamed Layer* 3) [Constant]", "/overlay/Mul"}


@pytest.mark.parametrize("key", ["espnet", "espnetv2-u8"])
def test_fp16_and_int8_builds_pin_every_float_output_of_the_frame_layers(exported, key):
    _, layers = exported[key]
    frame = frame_layers(layers)
    for flags in (["FP16"], ["INT8", "FP16"], ["INT8"]):
        plan = frame_plan((8, 2, 1, 8), flags, ["EXPLICIT_BATCH"], layers)
        pinned = dict((index, (precision, outputs)) for index, precision, outputs in plan["pin"])
        assert set(pinned) == set(i for i in frame if any(f for _, f in layers[i].outputs))
        for index, (precision, outputs) in pinned.items():
            assert outputs == [i for i, (_, f) in enumerate(layers[index].outputs) if f]
            assert precision == all(f for _, f in layers[index].inputs)
        assert plan["set_flags"] == ["OBEY_PRECISION_CONSTRAINTS"]
        assert plan["clear_flags"] == ["TF32"]  # the preprocessing convolves
    convs = [i for i in frame if layers[i].kind == "CONVOLUTION"]
    assert convs and all(pinned[i][0] for i in convs)
    # a Gather reads integer indices: its float output is pinned, its precision left to TensorRT
    gathers = [i for i in pinned if layers[i].kind == "GATHER"]
    assert gathers and not any(pinned[i][0] for i in gathers)
    # the ArgMax's TopK: only the values output (0) is float; the int32 indices cannot be typed
    topk = [i for i in pinned if layers[i].kind == "TOPK"]
    assert topk and all(pinned[i][1] == [0] for i in topk)


def test_before_8_2_strict_types_makes_tensorrt_obey(exported):
    plan = frame_plan((8, 0), ["FP16"], ["EXPLICIT_BATCH"], exported["espnet"][1])
    assert plan["pin"] and plan["set_flags"] == ["STRICT_TYPES"]


def test_fp32_builds_pin_nothing_but_turn_tf32_off(exported):
    plan = frame_plan((8, 6), [], ["EXPLICIT_BATCH"], exported["espnet"][1])
    assert plan["pin"] == [] and plan["set_flags"] == [] and plan["clear_flags"] == ["TF32"]
    assert plan["frame_layers"] == len(frame_layers(exported["espnet"][1]))


@pytest.mark.parametrize("version,network_flags", [((11, 4), []), ((10, 13), ["STRONGLY_TYPED"])])
def test_strongly_typed_networks_take_the_types_from_the_fp16_onnx(exported, version, network_flags):
    plan = frame_plan(version, [], network_flags, exported["espnetv2-u8"][1])
    assert plan["pin"] == [] and plan["set_flags"] == [] and plan["clear_flags"] == ["TF32"]
    assert any("strongly typed" in note for note in plan["notes"])


def test_plain_graphs_are_left_alone(exported):
    layers = exported["plain"][1]
    assert "/ArgMax" in _frame_names(layers)  # --fuse-post's ArgMax is top level in a plain graph too
    plan = frame_plan((8, 6), ["FP16"], ["EXPLICIT_BATCH"], layers, frame_graph=False)
    assert plan == {"frame_layers": 0, "pin": [], "set_flags": [], "clear_flags": [], "notes": []}


@pytest.fixture(scope="module", params=sorted(PATHS))
def driven(request, exported):
    key = request.param
    folder, libs = trt_bindings.prepare_or_skip(key)
    data = trt_bindings.drive([os.path.join(HERE, "trt_frame_drive.py"), folder, exported["espnet"][0]] + PATHS[key],
                              libs)
    return key, data["results"]


def test_the_calls_fit_the_real_bindings_of_each_version(driven, exported):
    key, results = driven
    layers = exported["espnet"][1]
    expected = frame_plan((8, 6), ["FP16"], ["EXPLICIT_BATCH"], layers)
    pinned = set(layers[i].name for i, _, _ in expected["pin"])
    with_precision = set(layers[i].name for i, precision, _ in expected["pin"] if precision)
    for result in results:
        assert result["status"] == "ok", result
        assert result["records_match"]  # layer_records reads back what the network holds
        assert result["cleared"] == ["TF32"]
        major = int(result["version"].split(".")[0])
        if not result["reduced"] or major >= 11:
            assert result["precision"] == [] and result["output_types"] == {} and result["flags"] == []
            continue
        assert set(result["precision"]) == with_precision
        assert set(result["output_types"]) == pinned
        assert all(types == {"0": "FLOAT"} for types in result["output_types"].values())
        assert result["flags"] == ["OBEY_PRECISION_CONSTRAINTS"]
        assert set(result["gpu_layers"]) == (pinned if result["dla"] else set())
        # deprecated only where strong typing supersedes them (10.12 on), never on the 8.x paths
        assert set(result["deprecated"]) <= ({"BuilderFlag.OBEY_PRECISION_CONSTRAINTS", "ILayer.set_output_type()"}
                                             if major >= 10 else set())
