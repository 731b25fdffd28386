"""Fused and unfused exports agree with PyTorch on real images; fp16/INT8 variants; ensure_onnx."""

import os

import numpy as np
import onnx
import pytest

from conftest import CITYSCAPES_IMAGES, PHOTOS, TRT_SUPPORT
from espnet_edge import zoo
from espnet_edge.runtime import trt_support
from espnet_edge.runtime.model_info import ModelInfo

pytestmark = pytest.mark.slow

SIZE = (256, 128)
FAMILIES = ("espnet-q8", "espnetv2-s0.5-city-512")
# INT8 vs fp32 on the held-out Cityscapes frame at 256x128: measured 0.959 / mIoU 0.62 (ESPNet q8,
# 4 Convs float) and 0.984 / 0.71 (ESPNetv2 s0.5, all INT8); bounds leave a margin
MIN_INT8_AGREEMENT = {"espnet-q8": 0.93, "espnetv2-s0.5-city-512": 0.96}
MIN_INT8_MIOU = {"espnet-q8": 0.5, "espnetv2-s0.5-city-512": 0.55}
VARIANTS = [(name, pre, post) for name in FAMILIES for pre, post in ((False, False), (True, True),
                                                                     (True, False))]


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("variants"))


@pytest.fixture(scope="module")
def exports(out_dir, shared):
    from espnet_edge.host.export.pipeline import export_model

    reports = {}
    for name, pre, post in VARIANTS:
        reports[(name, pre, post)] = export_model(
            zoo.get_model(name), size=SIZE, fuse_pre=pre, fuse_post=post, out_dir=out_dir,
            images=[CITYSCAPES_IMAGES], support=TRT_SUPPORT)
    return reports


@pytest.mark.parametrize("name,pre,post", VARIANTS)
def test_onnxruntime_agrees_with_pytorch_on_real_images(exports, name, pre, post):
    report = exports[(name, pre, post)]
    verification = report["verification"]
    assert verification["source"] == "images" and verification["images"] == 2
    assert verification["mask_agreement_min"] > 0.999
    if post:
        assert verification["max_abs_logit_diff"] is None
    else:
        assert verification["max_abs_logit_diff"] < 1e-3
    model = onnx.load(report["onnx"])
    info = ModelInfo.from_metadata({p.key: p.value for p in model.metadata_props})
    assert info.fused_pre == pre and info.fused_post == post
    assert info.input_layout == ("NHWC" if pre else "NCHW")
    in_dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert in_dims == ([1, SIZE[1], SIZE[0], 3] if pre else [1, 3, SIZE[1], SIZE[0]])
    out_type = model.graph.output[0].type.tensor_type
    assert out_type.elem_type == (onnx.TensorProto.INT32 if post else onnx.TensorProto.FLOAT)
    if post:
        assert [d.dim_value for d in out_type.shape.dim] == [1, SIZE[1], SIZE[0]]
        argmax = [n for n in model.graph.node if n.op_type == "ArgMax"]
        assert len(argmax) == 1 and [a.i for a in argmax[0].attribute if a.name == "keepdims"] == [0]
    assert trt_support.check_model(model, "8.2", TRT_SUPPORT)[1] == []


def test_segmenter_runs_fused_and_unfused_alike(exports, shared):
    from espnet_edge.images import read_image
    from espnet_edge.runtime.onnxruntime_runner import OnnxRuntimeRunner
    from espnet_edge.runtime.segmenter import Segmenter

    frame = read_image(os.path.join(CITYSCAPES_IMAGES, "frankfurt_000000_000576_leftImg8bit.png"))
    masks = []
    for pre, post in ((False, False), (True, True)):
        runner = OnnxRuntimeRunner(exports[("espnet-q8", pre, post)]["onnx"], threads=2)
        assert runner.describe()["providers"][-1] == "CPUExecutionProvider"
        masks.append(Segmenter(runner).segment(frame, at_network_size=True))
    assert masks[0].shape == (SIZE[1], SIZE[0])
    # resizing raw pixels before normalising (fused) vs after (authors' order) moves a few pixels
    assert np.mean(masks[0] == masks[1]) > 0.99


@pytest.fixture(scope="module")
def fp16(exports):
    from espnet_edge.host.export.variants import export_fp16

    return {name: export_fp16(exports[(name, False, False)]["onnx"], images=[CITYSCAPES_IMAGES],
                              support=TRT_SUPPORT) for name in FAMILIES}


@pytest.mark.parametrize("name", FAMILIES)
def test_fp16_variant(fp16, name):
    report = fp16[name]
    assert report["onnx"].endswith("-256x128-fp16.onnx")
    model = onnx.load(report["onnx"])
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert model.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    weights = [i for i in model.graph.initializer if len(i.dims) == 4]
    assert weights and all(i.data_type == onnx.TensorProto.FLOAT16 for i in weights)
    assert report["tensors"]["fp16"] > 10 * report["tensors"]["fp32"]
    assert ModelInfo.from_metadata({p.key: p.value for p in model.metadata_props}).precision == "fp16"
    assert report["verification"]["mask_agreement_min"] > 0.99
    assert trt_support.check_model(model, "8.2", TRT_SUPPORT)[1] == []


@pytest.fixture(scope="module")
def int8(exports):
    """Calibrated on one Cityscapes frame (plus its crops and mirrors), checked on the other.
    ESPNet keeps its 4 most sensitive Convs in float (the sensitivity scan), ESPNetv2 is all INT8."""
    from espnet_edge.host.export.variants import export_int8

    keep = {"espnet-q8": 4, "espnetv2-s0.5-city-512": 0}
    return {name: export_int8(exports[(name, False, False)]["onnx"], CITYSCAPES_IMAGES, support=TRT_SUPPORT,
                              keep_float=keep[name]) for name in FAMILIES}


@pytest.mark.parametrize("name", FAMILIES)
def test_int8_variant_is_symmetric_qdq(int8, name):
    report = int8[name]
    model = onnx.load(report["onnx"])
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in model.graph.initializer}
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("QuantizeLinear") > 10 and ops.count("DequantizeLinear") > ops.count("QuantizeLinear")
    zero_points = [v for k, v in inits.items() if k.endswith("_zero_point")]
    assert zero_points and all(z.dtype == np.int8 and not z.any() for z in zero_points)
    producers = {o: n for n in model.graph.node for o in n.output}
    float_convs = set(report["quantization"]["float_convs"])
    for node in model.graph.node:
        if node.op_type == "ConvTranspose":  # decoder deconvolutions stay float
            assert node.input[1] in inits
        if node.op_type != "Conv":
            continue
        data, weight = producers.get(node.input[0]), producers.get(node.input[1])
        if node.name in float_convs:
            assert node.input[1] in inits and (data is None or data.op_type != "DequantizeLinear")
            continue
        # Q/DQ on the activation (one scale) and per-output-channel weights on axis 0
        assert data.op_type == "DequantizeLinear" and inits[data.input[1]].size == 1
        assert weight.op_type == "DequantizeLinear"
        axis = [a.i for a in weight.attribute if a.name == "axis"]
        assert axis in ([], [0]) and inits[weight.input[1]].shape == (inits[weight.input[0]].shape[0],)
    # activations are quantized only where a Conv reads them: no Q/DQ on a Conv output that feeds
    # only Add/Concat/PReLU (onnxruntime's default), no Q/DQ on the graph output
    consumers = {}
    for node in model.graph.node:
        for tensor in node.input:
            consumers.setdefault(tensor, []).append(node.op_type)
    activation_dq = [n for n in model.graph.node if n.op_type == "DequantizeLinear" and n.input[0] not in inits]
    assert activation_dq and all("Conv" in consumers[n.output[0]] for n in activation_dq)
    assert producers[model.graph.output[0].name].op_type not in ("QuantizeLinear", "DequantizeLinear")
    assert len(float_convs) == (4 if name == "espnet-q8" else 0)
    assert trt_support.check_model(model, "8.2", TRT_SUPPORT)[1] == []
    verification = report["verification"]
    assert verification["held_out_images"] == 1
    assert report["quantization"]["calibration_frames"] == 14  # one frame, its crops and mirrors
    assert verification["mask_agreement_min"] > MIN_INT8_AGREEMENT[name]
    assert MIN_INT8_MIOU[name] < verification["miou_vs_fp32"] <= 1.0


def test_int8_of_a_fused_graph_keeps_its_class_map_output(exports):
    from espnet_edge.host.export.variants import export_int8

    report = export_int8(exports[("espnet-q8", True, True)]["onnx"], CITYSCAPES_IMAGES, keep_float=2,
                         support=TRT_SUPPORT)
    model = onnx.load(report["onnx"])
    assert model.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.INT32
    assert len(report["quantization"]["float_convs"]) == 2
    assert report["quantization"]["sensitivity"][0]["mask_agreement_alone"] < 1.0
    assert report["verification"]["mask_agreement_min"] > MIN_INT8_AGREEMENT["espnet-q8"]


def test_too_few_calibration_images(exports, tmp_path):
    from espnet_edge.errors import UserError
    from espnet_edge.host.export.variants import export_int8

    folder = tmp_path / "calib"
    folder.mkdir()
    os.symlink(os.path.join(CITYSCAPES_IMAGES, "frankfurt_000000_000294_leftImg8bit.png"), str(folder / "a.png"))
    with pytest.raises(UserError, match="at least 2 images.*has 1"):
        export_int8(exports[("espnet-q8", False, False)]["onnx"], str(folder))


def test_calibration_split_holds_out_an_image():
    from espnet_edge.host.export.variants import split_calibration

    assert split_calibration(["a", "b"]) == (["a"], ["b"])
    assert split_calibration(list("abcdefgh")) == (list("abcefg"), ["d", "h"])
    assert split_calibration(list("abcdefgh"), count=2) == (list("ab"), ["d", "h"])


def test_calibration_augmentation_is_deterministic_crops_and_mirrors(shared):
    from espnet_edge.host.export.calibration_data import augmented_frames
    from espnet_edge.images import read_image

    frame = read_image(os.path.join(CITYSCAPES_IMAGES, "frankfurt_000000_000294_leftImg8bit.png"))
    views = dict(augmented_frames(frame))
    assert len(views) == 14 and views["full"] is not None
    assert np.array_equal(views["full-mirrored"], frame[:, ::-1])
    assert views["crop0.5-left"].shape == (512, 1024, 3)
    assert np.array_equal(views["crop0.5-left"], frame[256:768, :1024])
    assert np.array_equal(views["crop0.75-right-mirrored"], frame[128:896, 512:][:, ::-1])
    again = dict(augmented_frames(frame))
    assert all(np.array_equal(views[k], again[k]) for k in views)


def test_ensure_onnx_exports_once(monkeypatch, tmp_path, shared, capsys):
    """On demand: ./export's file when `espnet-edge export` wrote one, else the cache's, else exported
    into the cache (never the checkout) with a note."""
    import shutil

    from espnet_edge.host.export import pipeline

    monkeypatch.setenv("ESPNET_EDGE_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    entry = zoo.get_model("espnet-c-q3")
    path = pipeline.ensure_onnx(entry, size=(128, 64))
    assert path == str(tmp_path / "cache" / "export" / "espnet-c-q3-128x64.onnx") and os.path.isfile(path)
    assert "note: exporting espnet-c-q3 at 128x64 to " + path in capsys.readouterr().err
    stamp = os.path.getmtime(path)
    assert pipeline.ensure_onnx(entry, size=(128, 64)) == path
    assert os.path.getmtime(path) == stamp and "note" not in capsys.readouterr().err
    (tmp_path / "export").mkdir()
    shutil.copy(path, str(tmp_path / "export"))
    assert pipeline.ensure_onnx(entry, size=(128, 64)) == str(tmp_path / "export" / "espnet-c-q3-128x64.onnx")


def test_ensure_onnx_never_reuses_an_export_of_another_checkpoint(monkeypatch, tmp_path, shared, capsys):
    """./export holds the user's fine-tuned export under the zoo file name: a bare --model must not run it."""
    import torch

    from espnet_edge.host.export import pipeline
    from espnet_edge.runtime.tensorrt.onnxmeta import model_info
    from espnet_edge.weights import find_weights

    monkeypatch.setenv("ESPNET_EDGE_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    entry = zoo.get_model("espnet-c-q3")
    state = torch.load(find_weights(entry), map_location="cpu")
    key = next(k for k, v in state.items() if v.dtype == torch.float32 and v.dim() == 4)
    state[key] = state[key] * 1.5
    tuned = str(tmp_path / "tuned.pth")
    torch.save(state, tuned)
    mine = pipeline.export_model(entry, weights=tuned, size=(128, 64), verify_limit=1)["onnx"]
    assert mine == str(tmp_path / "export" / "espnet-c-q3-128x64.onnx")
    capsys.readouterr()
    path = pipeline.ensure_onnx(entry, size=(128, 64))
    assert path == str(tmp_path / "cache" / "export" / "espnet-c-q3-128x64.onnx")
    assert "not reusing " + mine in capsys.readouterr().err
    assert model_info(path).checkpoint_sha256 == entry.sha256 != model_info(mine).checkpoint_sha256
