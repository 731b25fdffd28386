"""The fp16 variant of a frame graph (export --fuse-pre --input-size [--fuse-overlay]) keeps the
frame graph's own nodes in float32: the in-graph preprocessing gives the fp32 graph's network
input bit for bit, the overlay draws the same bytes wherever the class maps agree, and only the
network between them computes in fp16. Plain graphs convert as before."""

import numpy as np
import pytest

from espnet_edge import zoo
from espnet_edge.images import list_images, read_image
from espnet_edge.runtime.frame_nodes import frame_node_names, is_frame_graph, is_frame_node

from conftest import CITYSCAPES_IMAGES, TRT_SUPPORT

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
pytest.importorskip("torch")

from onnx import TensorProto  # noqa: E402

from espnet_edge.host.export import pipeline  # noqa: E402
from espnet_edge.host.export.fp16 import to_fp16  # noqa: E402
from espnet_edge.runtime.model_info import ModelInfo  # noqa: E402
from espnet_edge.runtime.segmenter import resize_mask, split_overlay  # noqa: E402

pytestmark = pytest.mark.slow

FRAME_SIZE = (2048, 1024)
SIZE = (256, 128)
# ESPNet: one strided Conv does the preprocessing (float32 frame); ESPNetv2: Pillow's bilinear with
# hi/lo integer sums and Floors (uint8 frame and overlay)
GRAPHS = {"espnet-c-q3": dict(overlay_alpha=0.5),
          "espnetv2-s2.0-city-1024": dict(overlay_alpha=0.5, frame_dtype="uint8", trt_version="10")}


def _session(model):
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def graphs(tmp_path_factory):
    out = {}
    for name, extra in GRAPHS.items():
        folder = tmp_path_factory.mktemp("frame16")
        path = pipeline.export_model(zoo.get_model(name), out_dir=str(folder), size=SIZE, fuse_pre=True,
                                     input_size=FRAME_SIZE, support=TRT_SUPPORT, **extra)["onnx"]
        model = onnx.load(path)
        out[name] = (path, model, to_fp16(model))
    return out


def _info(model):
    return ModelInfo.from_metadata(dict((p.key, p.value) for p in model.metadata_props))


def _frames(info):
    dtype = np.uint8 if info.frame_dtype == "uint8" else np.float32
    return [read_image(p)[None].astype(dtype) for p in list_images([CITYSCAPES_IMAGES])[:2]]


def _casts(model):
    return [n for n in model.graph.node if n.name.startswith("cast_")]


def _elem_types(model):
    types = dict((i.name, i.data_type) for i in model.graph.initializer)
    for info in list(model.graph.input) + list(model.graph.value_info) + list(model.graph.output):
        types[info.name] = info.type.tensor_type.elem_type
    return types


def _network_input(model):
    """The tensor the preprocessing hands the network: the input of the Cast into the network."""
    into = [n for n in _casts(model) if n.output[0].endswith("_fp16")]
    return into[0].input[0]


def _with_output(model, name):
    extra = onnx.ModelProto()
    extra.CopyFrom(model)
    extra.graph.output.append(onnx.helper.make_tensor_value_info(name, TensorProto.FLOAT, None))
    return extra


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_frame_nodes_stay_float32_and_casts_sit_only_around_the_network(graphs, name):
    _, fp32, half = graphs[name]
    kept = frame_node_names(fp32)
    assert kept and all(n.startswith(("/pre/", "/overlay/", "/Cast")) for n in kept)
    assert not any(n.name in kept for n in fp32.graph.node if n.name.startswith("/net/"))
    types = _elem_types(half)
    for node in half.graph.node:
        if node.name in kept:
            floats = [types.get(t) for t in list(node.input) + list(node.output)
                      if types.get(t) in (TensorProto.FLOAT, TensorProto.FLOAT16)]
            assert TensorProto.FLOAT16 not in floats, node.name
    casts = _casts(half)
    assert len(casts) == 2  # one into the network, one out of it (to the ArgMax of the overlay)
    consumers = [n for n in half.graph.node if casts[0].output[0] in n.input or casts[1].output[0] in n.input]
    assert set(n.name.split("/")[1] for n in consumers) == {"net", "overlay"}
    net_weights = [i for i in half.graph.initializer if len(i.dims) == 4 and i.name.startswith(("net.", "onnx::"))]
    assert net_weights and all(i.data_type == TensorProto.FLOAT16 for i in net_weights)
    frame_weights = [i for i in half.graph.initializer if is_frame_node(i.name)
                     and i.data_type in (TensorProto.FLOAT, TensorProto.FLOAT16)]
    assert frame_weights and all(i.data_type == TensorProto.FLOAT for i in frame_weights)


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_fp16_graph_hands_the_network_the_fp32_graphs_input_bit_for_bit(graphs, name):
    _, fp32, half = graphs[name]
    tensor = _network_input(half)
    reference, candidate = _session(_with_output(fp32, tensor)), _session(_with_output(half, tensor))
    feed = reference.get_inputs()[0].name
    for frame in _frames(_info(fp32)):
        expected = reference.run([tensor], {feed: frame})[0]
        got = candidate.run([tensor], {feed: frame})[0]
        assert expected.dtype == got.dtype == np.float32
        assert expected.shape == (1, 3, SIZE[1], SIZE[0])
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_fp16_overlay_draws_the_fp32_bytes_wherever_the_class_maps_agree(graphs, name):
    _, fp32, half = graphs[name]
    info = _info(fp32)
    reference, candidate = _session(fp32), _session(half)
    feed = reference.get_inputs()[0].name
    for frame in _frames(info):
        classes32, overlay32 = split_overlay(reference.run(None, {feed: frame})[0][0], info)
        classes16, overlay16 = split_overlay(candidate.run(None, {feed: frame})[0][0], info)
        agree = resize_mask(classes32, FRAME_SIZE) == resize_mask(classes16, FRAME_SIZE)
        assert np.mean(classes32 == classes16) > 0.98  # fp16 logits move a few boundary pixels
        assert np.array_equal(overlay16[agree], overlay32[agree])
        assert not np.array_equal(overlay16[~agree], overlay32[~agree]) or agree.all()


def test_plain_graph_converts_whole_with_casts_only_at_its_input_and_output(tmp_path):
    path = pipeline.export_model(zoo.get_model("espnet-c-q3"), out_dir=str(tmp_path), size=SIZE,
                                 support=TRT_SUPPORT)["onnx"]
    model = onnx.load(path)
    assert not is_frame_graph(dict((p.key, p.value) for p in model.metadata_props))
    assert frame_node_names(model) == set()
    half = to_fp16(model)
    casts = _casts(half)
    assert [(c.input[0], c.output[0]) for c in casts] == [("input", "input_fp16"), ("logits_fp16", "logits")]
    types = _elem_types(half)
    inner = [t for n in half.graph.node if not n.name.startswith("cast_") for t in n.output]
    assert not any(types.get(t) == TensorProto.FLOAT for t in inner)


def test_export_fp16_reports_how_many_frame_nodes_stay_float32(graphs, tmp_path):
    from espnet_edge.host.export.variants import export_fp16

    path, fp32, _ = graphs["espnet-c-q3"]
    report = export_fp16(path, images=[CITYSCAPES_IMAGES], support=TRT_SUPPORT, verify_limit=1)
    assert report["frame_nodes_fp32"] == len(frame_node_names(fp32)) > 0


@pytest.mark.parametrize("name,frame", [
    ("/pre/Conv", True), ("/pre/passes.1_1/Floor_2", True), ("/overlay/ArgMax", True), ("/Cast", True),
    ("/Cast_1", True), ("/ArgMax", True), ("ort_overlay_tail_add", True), ("pre.gain", True),
    ("overlay.colours", True),
    # TensorRT's ONNX parser makes repeated layer names unique with _<n>
    ("/pre/Mul_3_17", True), ("/Cast_1_4", True),
    ("/net/Conv", False), ("/net/pre/Conv", False), ("/Conv", False), ("/Castle", False), ("net.pre.weight", False),
    ("onnx::Conv_298", False), ("(Unnamed Layer* 12) [Shuffle]", False), ("", False)])
def test_frame_node_names(name, frame):
    assert is_frame_node(name) is frame


def test_only_graphs_with_a_frame_size_are_frame_graphs():
    assert is_frame_graph({"espnet_edge.frame_size": "[2048, 1024]"})
    assert not is_frame_graph({"espnet_edge.frame_size": "null"})
    assert not is_frame_graph({})


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_int8_qdq_never_quantizes_the_frame_graphs_own_convs(graphs, name, tmp_path):
    """The preprocessing's Convs (ESPNet's strided resize, ESPNetv2's Pillow passes) stay float:
    no Q/DQ on them, the network's Convs all INT8, the network input bit-identical to fp32."""
    from espnet_edge.host.export.calibration_data import calibration_batches
    from espnet_edge.host.export.int8 import conv_names, quantize_qdq

    path, fp32, _ = graphs[name]
    info = _info(fp32)
    batches = calibration_batches(list_images([CITYSCAPES_IMAGES])[:1], info, augment=False)
    out = str(tmp_path / "int8.onnx")
    done = quantize_qdq(path, out, batches)
    qdq = onnx.load(out)
    frame = frame_node_names(fp32)
    frame_convs = [n.name for n in fp32.graph.node if n.op_type == "Conv" and n.name in frame]
    assert frame_convs  # the graph has preprocessing Convs that could have been quantized
    assert done["convs"] == len(conv_names(fp32)) == sum(n.op_type == "Conv" for n in fp32.graph.node) - len(frame_convs)
    producer = dict((o, n) for n in qdq.graph.node for o in n.output)

    def reads_dequantized(node):
        return any(producer.get(i) is not None and producer[i].op_type == "DequantizeLinear" for i in node.input)

    assert not [n.name for n in qdq.graph.node if n.name in frame and reads_dequantized(n)]
    net_convs = [n for n in qdq.graph.node if n.op_type == "Conv" and n.name.startswith("/net/")]
    assert net_convs and all(reads_dequantized(n) for n in net_convs)
    tensor = _network_input(graphs[name][2])
    reference, candidate = _session(_with_output(fp32, tensor)), _session(_with_output(qdq, tensor))
    feed = reference.get_inputs()[0].name
    frame_batch = _frames(info)[0]
    np.testing.assert_array_equal(candidate.run([tensor], {feed: frame_batch})[0],
                                  reference.run([tensor], {feed: frame_batch})[0])


def test_int8_export_of_an_overlay_graph_compares_class_maps(graphs, tmp_path):
    """export --int8 of a --fuse-overlay graph: the held-out check reads the class rows under the
    overlay (it used to reshape the overlay bytes as a class map and fail)."""
    import shutil

    from espnet_edge.host.export.variants import export_int8

    path = str(tmp_path / "overlay.onnx")
    shutil.copyfile(graphs["espnet-c-q3"][0], path)
    report = export_int8(path, CITYSCAPES_IMAGES, support=TRT_SUPPORT, augment=False)
    checked = report["verification"]["per_image"]
    assert len(checked) == 1
    info = _info(graphs["espnet-c-q3"][1])
    frame = read_image(checked[0]["image"])[None].astype(np.float32)
    masks = []
    for model in (onnx.load(path), onnx.load(report["onnx"])):
        session = _session(model)
        output = session.run(None, {session.get_inputs()[0].name: frame})[0]
        masks.append(split_overlay(output[0], info)[0])
    assert masks[0].shape == (SIZE[1], SIZE[0])
    assert checked[0]["mask_agreement"] == pytest.approx(float(np.mean(masks[0] == masks[1])), abs=1e-12)
