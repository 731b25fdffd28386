"""Graphs that take the camera's raw frame (export --fuse-pre --input-size): the in-graph
preprocessing equals the exact CPU path (espnet_edge.preprocess) on every real image, the masks
agree, the graphs pass the TensorRT 8.2 operator check, and the overlay graph draws what
visualize.overlay draws."""

import os

import numpy as np
import pytest

from espnet_edge import visualize, zoo
from espnet_edge.errors import UserError
from espnet_edge.images import list_images, read_image
from espnet_edge.preprocess import normalize, preprocess

from conftest import CITYSCAPES_IMAGES, IMAGES, TRT_SUPPORT

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")
cv2 = pytest.importorskip("cv2")
Image = pytest.importorskip("PIL.Image")

from espnet_edge.host.export import pipeline  # noqa: E402
from espnet_edge.host.export.frame_graph import preprocess_onnx  # noqa: E402
from espnet_edge.runtime import trt_support  # noqa: E402

NET_SIZE = (512, 256)  # small enough for CI; the benchmark reports 1024x512
MODELS = ("espnet-q8", "espnetv2-s2.0-city-1024")
FRAME = os.path.join(CITYSCAPES_IMAGES, "frankfurt_000000_000294_leftImg8bit.png")


def _session(model_or_path):
    data = model_or_path if isinstance(model_or_path, str) else model_or_path.SerializeToString()
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def networks(tmp_path_factory):
    """The plain exported networks at NET_SIZE (normalised NCHW in, logits out)."""
    out = tmp_path_factory.mktemp("nets")
    return {name: _session(pipeline.export_model(zoo.get_model(name), size=NET_SIZE, out_dir=str(out))["onnx"])
            for name in MODELS}


def test_espnet_normalise_then_resize_equals_resize_then_normalise():
    """The authors normalise the full frame, then cv2-resize: bilinear weights sum to one, so the
    cheaper resize-then-normalise gives the same tensor up to float32 rounding."""
    spec = zoo.get_model("espnet-q8").preprocess
    frame = read_image(FRAME)
    first = cv2.resize(normalize(frame, spec, divide=False), NET_SIZE, interpolation=cv2.INTER_LINEAR)
    second = normalize(cv2.resize(frame.astype(np.float32), NET_SIZE, interpolation=cv2.INTER_LINEAR),
                       spec, divide=False)
    assert np.max(np.abs(first - second)) < 1e-5 * 6  # values |x| <= ~4: a few float32 ulps


@pytest.mark.parametrize("size", [(1024, 512), (640, 360), (1333, 777)])
def test_onnx_resize_linear_half_pixel_matches_opencv_inter_linear(size):
    from onnx import TensorProto, helper, numpy_helper

    frame = read_image(FRAME).astype(np.float32)
    x = np.ascontiguousarray(frame.transpose(2, 0, 1)[None])
    sizes = numpy_helper.from_array(np.array([1, 3, size[1], size[0]], np.int64), "sizes")
    node = helper.make_node("Resize", ["x", "", "", "sizes"], ["y"], mode="linear",
                            coordinate_transformation_mode="half_pixel")
    graph = helper.make_graph([node], "r", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x.shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [sizes])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    got = _session(model).run(None, {"x": x})[0][0].transpose(1, 2, 0)
    expected = cv2.resize(frame, size, interpolation=cv2.INTER_LINEAR)
    # both compute the source coordinate (dst + 0.5) * in/out - 0.5 in float32: it is a few ulps
    # of the largest coordinate (2048) apart, which moves a 0..255 pixel by at most 255 x that
    bound = 255 * 2 * 2048 * np.finfo(np.float32).eps
    assert np.max(np.abs(got - expected)) < bound
    assert np.mean(np.abs(got - expected) > 1e-3) < 0.01


def _all_frames():
    return list_images([IMAGES])


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
def test_in_graph_preprocessing_agrees_with_the_exact_cpu_path_on_every_image(name, networks):
    entry = zoo.get_model(name)
    net = networks[name]
    table = trt_support.load_support("8.2", TRT_SUPPORT)
    rows = []
    for path in _all_frames():
        frame = read_image(path)
        model = preprocess_onnx(entry.preprocess, (frame.shape[1], frame.shape[0]), NET_SIZE)
        _, issues = trt_support.check_model(model, support=table)
        assert not issues, [str(i) for i in issues]
        graph_x = _session(model).run(None, {"input": frame[None].astype(np.float32)})[0]
        cpu_x = preprocess(frame, entry.preprocess, NET_SIZE)
        diff = np.abs(graph_x - cpu_x)
        # ESPNet: the same bilinear arithmetic up to float32 rounding of coordinates and sums;
        # ESPNetv2: Pillow's integer pixels reproduced exactly, then the normalisation's rounding
        assert diff.max() < (1e-4 if entry.preprocess.resize == "cv2_bilinear" else 1e-5), path
        masks = [np.argmax(net.run(None, {"input": x})[0], axis=1) for x in (graph_x, cpu_x)]
        rows.append((path, float(np.mean(masks[0] == masks[1]))))
    assert len(rows) == len(_all_frames()) >= 10
    assert min(agreement for _, agreement in rows) >= 0.999, rows


@pytest.mark.slow
def test_pil_graph_resize_equals_pillow_itself():
    """The ESPNetv2 taps reproduce Pillow's own C resize (not only our numpy copy of it)."""
    from espnet_edge.host.export.frame_graph import PilBilinear

    frame = read_image(FRAME)
    # 2x and 4x down: strided convolutions with gathered borders; the others: gathered taps
    for size, conv in [((1024, 512), True), ((512, 256), True), ((333, 217), False), ((2048, 1024), None),
                       ((2500, 1100), False)]:
        module = PilBilinear((frame.shape[1], frame.shape[0]), size)
        if conv:
            assert [p.conv is not None for p in module.passes] == [True, True]
        elif conv is None:
            assert not module.passes
        with torch.no_grad():
            nchw = torch.from_numpy(np.ascontiguousarray(frame.transpose(2, 0, 1)[None]).astype(np.float32))
            got = module(nchw).numpy()[0].transpose(1, 2, 0)
        rgb = np.ascontiguousarray(frame[:, :, ::-1])
        expected = np.asarray(Image.fromarray(rgb).resize(size, Image.BILINEAR))[:, :, ::-1]
        assert np.array_equal(got, expected.astype(np.float32))


def _graph_ops(model):
    return set(node.op_type for node in model.graph.node)


def _largest_transpose(model):
    """Elements of the largest tensor a Transpose of ``model`` writes (0: none)."""
    import onnx

    inferred = onnx.shape_inference.infer_shapes(model)
    shapes = dict((v.name, [d.dim_value for d in v.type.tensor_type.shape.dim])
                  for v in list(inferred.graph.value_info) + list(inferred.graph.output))
    sizes = [int(np.prod(shapes[node.output[0]])) for node in inferred.graph.node if node.op_type == "Transpose"]
    return max(sizes or [0])


def _tolerance(spec, frame_size, size=(1024, 512)):
    """Largest difference float32 arithmetic allows between the in-graph and the CPU preprocessing,
    in normalised units. ESPNet: cv2 and the graph compute each source coordinate in float32, a
    few ulps of the largest coordinate apart, which moves a 0..255 pixel by up to 255 x that (the
    bound of test_onnx_resize_linear_half_pixel_matches_opencv_inter_linear), scaled by the gain.
    ESPNetv2: Pillow's integers are exact and the graph normalises them with the CPU path's own float32
    operations in its order: no difference at all. ESPNet at exactly twice the network size: OpenCV's
    own operations in its order (host/export/exact_halving.py): none either."""
    if spec.resize == "cv2_bilinear" and tuple(frame_size) != (2 * size[0], 2 * size[1]):
        return _cv2_rounding(spec, frame_size)
    return 0.0


def _cv2_rounding(spec, frame_size):
    """The float32 bound of _tolerance for cv2's resize (two ways of computing the same sum)."""
    gain, offset = (np.asarray(v) for v in spec.affine())
    return float(np.max(np.abs(gain))) * 255 * (2 * max(frame_size) + 8) * np.finfo(np.float32).eps


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
def test_in_graph_preprocessing_at_1024x512_equals_the_cpu_path_on_every_image(name):
    """Every image at its own frame size (2048x1024 Cityscapes, photos from 275x183 to 1280x720,
    up- and downscales, integer and other ratios) through the preprocessing the 1024x512 frame
    graph holds, against the exact CPU preprocessing. No network: the masks are the benchmark's
    (benchmarks/agreement_every_image.py)."""
    spec = zoo.get_model(name).preprocess
    paths = _all_frames()
    assert len(paths) >= 10
    for path in paths:
        frame = read_image(path)
        frame_size = (frame.shape[1], frame.shape[0])
        model = preprocess_onnx(spec, frame_size, (1024, 512))
        if frame_size == (2048, 1024):  # the integer ratio takes the frame without a full-size Transpose
            assert _largest_transpose(model) <= 3 * 512 * 1024, path
            assert "Resize" not in _graph_ops(model), path
        graph_x = _session(model).run(None, {"input": frame[None].astype(np.float32)})[0]
        cpu_x = preprocess(frame, spec, (1024, 512))
        assert graph_x.shape == cpu_x.shape == (1, 3, 512, 1024)
        assert np.max(np.abs(graph_x - cpu_x)) <= _tolerance(spec, frame_size), path


@pytest.mark.parametrize("frame_size,size", [((2048, 1024), (1024, 512)), ((2048, 1024), (512, 256)),
                                             ((1536, 768), (512, 256)), ((2048, 1024), (2048, 1024)),
                                             ((2048, 1024), (1024, 256))])
def test_block_convolution_equals_onnx_resize_and_opencv_at_integer_ratios(frame_size, size):
    """ESPNet's resize at integer ratios (2x, 4x, 3x, 1x, and 2x by 4x) as one strided convolution
    over the HWC frame: the same tensor as the general graph (Transpose + ONNX Resize) and as
    OpenCV INTER_LINEAR (the CPU path), up to float32 rounding."""
    from espnet_edge.host.export import frame_graph

    spec = zoo.get_model("espnet-q8").preprocess
    frame = np.ascontiguousarray(read_image(FRAME)[:frame_size[1], :frame_size[0]])
    block = preprocess_onnx(spec, frame_size, size)
    assert "Resize" not in _graph_ops(block)
    assert _largest_transpose(block) <= 3 * size[0] * size[1]  # at the network size, if any (2x: exact_halving)
    original = frame_graph._block_resize
    frame_graph._block_resize = lambda *args: None
    try:
        general = preprocess_onnx(spec, frame_size, size)
    finally:
        frame_graph._block_resize = original
    assert "Transpose" in _graph_ops(general)
    x = frame[None].astype(np.float32)
    got, reference = (_session(m).run(None, {"input": x})[0] for m in (block, general))
    assert np.max(np.abs(got - reference)) <= _cv2_rounding(spec, frame_size)
    assert np.max(np.abs(got - preprocess(frame, spec, size))) <= _tolerance(spec, frame_size, size)


@pytest.mark.parametrize("channel_order,scale,divide", [("BGR", 1.0, 255.0), ("RGB", 1.0 / 255, 1.0)])
def test_espnet_frame_at_twice_the_network_size_is_preprocessed_bit_for_bit(channel_order, scale, divide):
    """A frame exactly twice the network size (2048x1024 -> 1024x512) goes through OpenCV's own
    arithmetic in its order (host/export/exact_halving.py): the very tensor the CPU path gives, on both
    Cityscapes frames, for ESPNet's spec and for an RGB spec that scales and does not divide."""
    base = zoo.get_model("espnet-q8").preprocess
    spec = base._replace(channel_order=channel_order, scale=scale, divide=divide,
                         mean=(0.40, 0.45, 0.50) if scale != 1.0 else base.mean,
                         std=(0.21, 0.22, 0.23) if scale != 1.0 else base.std)
    model = preprocess_onnx(spec, (2048, 1024), (1024, 512))
    assert "Conv" not in _graph_ops(model)  # not the folded convolution (equal only up to rounding)
    session = _session(model)
    paths = list_images([CITYSCAPES_IMAGES])
    assert len(paths) == 2
    for path in paths:
        frame = read_image(path)
        got = session.run(None, {"input": frame[None].astype(np.float32)})[0]
        assert np.array_equal(got, preprocess(frame, spec, (1024, 512))), path


@pytest.mark.parametrize("frame_size,size,dyadic", [((2048, 1024), (1024, 512), True),
                                                    ((2048, 1024), (512, 256), True),
                                                    ((2048, 1024), (1024, 1024), True),
                                                    ((1536, 768), (512, 256), False)])
def test_pil_first_pass_on_the_hwc_frame_equals_pillow(frame_size, size, dyadic):
    """ESPNetv2's Pillow resize reading the HWC frame (its horizontal convolution over the
    [N, 1, H, W * 3] plane, borders from the gathered source columns, channels reordered on the
    way) gives Pillow's own pixels, as the NCHW path does; 3x has no power-of-two coefficients,
    so the split (hi, lo) convolutions are exercised too."""
    from espnet_edge.host.export.frame_graph import PilBilinear

    frame = np.ascontiguousarray(read_image(FRAME)[:frame_size[1], :frame_size[0]])
    module = PilBilinear(frame_size, size)
    assert module.read_hwc_frames((2, 1, 0))  # BGR frame -> RGB planes
    assert module.passes[0].gathered  # Pillow's renormalised border taps are exercised
    assert module.passes[0].conv["dyadic"] == dyadic
    with torch.no_grad():
        got = module.forward_frame(torch.from_numpy(frame[None].astype(np.float32))).numpy()[0]
    rgb = np.ascontiguousarray(frame[:, :, ::-1])
    expected = np.asarray(Image.fromarray(rgb).resize(size, Image.BILINEAR)).transpose(2, 0, 1)
    assert np.array_equal(got, expected.astype(np.float32))


@pytest.mark.parametrize("frame_size,size", [((1280, 720), (1024, 512)), ((1920, 1080), (1024, 512)),
                                             ((640, 480), (1024, 512)), ((1280, 1600), (1024, 512)),
                                             ((1024, 720), (1024, 512))])
def test_pil_blocks_at_other_ratios_equal_pillow_itself(frame_size, size):
    """Ratios that are not integers (5/4, 15/8, upscaling 5/8, Pillow's vertical-first order, one axis
    only): the horizontal pass as MatMuls over blocks (borders gathered), the vertical one as gathered
    rows and a batched MatMul, int32 rounding: Pillow's own pixels, in the ONNX graph as in PyTorch, and
    the frame graph uses them (not one Gather per tap: the TensorRT 8.2 table still takes the graph)."""
    from espnet_edge.host.export.pil_blocks import PilFrameBlocks

    spec = zoo.get_model("espnetv2-s2.0-city-1024").preprocess
    source = read_image(FRAME)
    frame = np.ascontiguousarray(cv2.resize(source, frame_size, interpolation=cv2.INTER_AREA))
    module = PilFrameBlocks(frame_size, size, (2, 1, 0))
    assert PilFrameBlocks.applicable(frame_size, size)
    with torch.no_grad():
        got = module(torch.from_numpy(frame[None].astype(np.float32))).numpy()[0]
    rgb = np.ascontiguousarray(frame[:, :, ::-1])
    expected = np.asarray(Image.fromarray(rgb).resize(size, Image.BILINEAR)).transpose(2, 0, 1)
    assert np.array_equal(got, expected.astype(np.float32))
    _assert_block_graph_is_the_cpu_path(spec, frame, size)


def _assert_block_graph_is_the_cpu_path(spec, frame, size):
    """The frame graph's preprocessing of ``frame`` uses the block resize, parses in TensorRT 8.2's table,
    and through ONNX Runtime gives exactly the CPU path's network input."""
    from espnet_edge.host.export.frame_graph import FramePreprocess

    frame_size = (frame.shape[1], frame.shape[0])
    assert FramePreprocess(spec, frame_size, size).pil_blocks is not None
    model = preprocess_onnx(spec, frame_size, size)
    assert trt_support.check_model(model, "8.2")[1] == []
    graph_x = _session(model).run(None, {"input": frame[None].astype(np.float32)})[0]
    assert np.array_equal(graph_x, preprocess(frame, spec, size))


@pytest.mark.slow
@pytest.mark.parametrize("alpha", [0.5, 0.4])
def test_overlay_broadcast_over_frame_rows_equals_the_full_size_lookup(networks, alpha):
    """The palette looked up at the network size and broadcast over frame rows draws exactly
    what the nearest Resize + full-size lookup draws, and at alpha 0.5 what visualize.overlay draws."""
    from espnet_edge.host.export.frame_overlay import FrameOverlay
    from espnet_edge.runtime.segmenter import resize_mask

    entry = zoo.get_model("espnet-q8")
    frame = read_image(FRAME)
    logits = networks["espnet-q8"].run(None, {"input": preprocess(frame, entry.preprocess, NET_SIZE)})[0]
    block = FrameOverlay(entry.palette, (2048, 1024), NET_SIZE, alpha)
    assert block.block == (4, 4)
    general = FrameOverlay(entry.palette, (2048, 1024), NET_SIZE, alpha)
    general.block = None
    table = np.asarray(entry.palette, np.float32)[:, ::-1] * np.float32(alpha) + np.float32(0.5)
    general.colours = torch.from_numpy(np.ascontiguousarray(table))
    with torch.no_grad():
        args = (torch.from_numpy(logits), torch.from_numpy(frame[None].astype(np.float32)))
        got, reference = block(*args).numpy()[0], general(*args).numpy()[0]
    assert np.array_equal(got, reference)
    if alpha == 0.5:
        mask = resize_mask(np.argmax(logits, axis=1)[0].astype(np.uint8), (2048, 1024))
        assert np.array_equal(got[:1024].astype(np.uint8), visualize.overlay(frame, mask, entry.palette, 0.5))


@pytest.fixture(scope="module")
def overlay_graph(tmp_path_factory):
    out = tmp_path_factory.mktemp("overlay")
    return pipeline.export_model(zoo.get_model("espnet-q8"), size=NET_SIZE, fuse_pre=True, input_size=(2048, 1024),
                                 overlay_alpha=0.5, out_dir=str(out), support=TRT_SUPPORT,
                                 images=[CITYSCAPES_IMAGES])


@pytest.mark.slow
def test_overlay_graph_passes_trt82_and_draws_the_cpu_overlay(overlay_graph, networks):
    report = overlay_graph
    assert report["tensorrt_check"]["version"] == "8.2" and report["tensorrt_check"]["passed"]
    assert report["frame"]["size"] == [2048, 1024] and report["frame"]["dtype"] == "float32"
    assert report["verification"]["mask_agreement_min"] >= 0.999
    from espnet_edge.runtime.onnxruntime_runner import OnnxRuntimeRunner
    from espnet_edge.runtime.segmenter import Segmenter, resize_mask

    runner = OnnxRuntimeRunner(report["onnx"])
    assert runner.info.frame_size == (2048, 1024) and runner.info.fused_overlay
    assert runner.info.input_shape == (1, 1024, 2048, 3)
    segmenter = Segmenter(runner)
    frame = read_image(FRAME)
    mask, image = segmenter.segment_overlay(frame)
    assert mask.shape == frame.shape[:2] and image.shape == frame.shape and image.dtype == np.uint8
    cpu_mask = resize_mask(np.argmax(networks["espnet-q8"].run(
        None, {"input": preprocess(frame, zoo.get_model("espnet-q8").preprocess, NET_SIZE)})[0], axis=1)[0]
        .astype(np.uint8), (2048, 1024))
    assert np.mean(mask == cpu_mask) >= 0.999
    same = mask == cpu_mask
    expected = visualize.overlay(frame, mask, runner.info.palette, 0.5)
    assert np.max(np.abs(image.astype(int) - expected.astype(int))[same]) <= 1  # float rounding at .5


@pytest.mark.slow
def test_frame_of_another_size_is_one_line_naming_both(overlay_graph):
    from espnet_edge.runtime.onnxruntime_runner import OnnxRuntimeRunner
    from espnet_edge.runtime.segmenter import Segmenter

    segmenter = Segmenter(OnnxRuntimeRunner(overlay_graph["onnx"]))
    small = np.zeros((720, 1280, 3), np.uint8)
    with pytest.raises(UserError) as err:
        segmenter.segment_overlay(small)
    assert "1280x720" in str(err.value) and "2048x1024" in str(err.value) and "\n" not in str(err.value)
    segmenter.resize_frames = True
    mask, image = segmenter.segment_overlay(small)
    assert image.shape == (1024, 2048, 3)


def test_uint8_frames_need_a_tensorrt_that_takes_them():
    entry = zoo.get_model("espnet-q8")
    with pytest.raises(UserError, match="UINT8"):
        pipeline.export_model(entry, size=NET_SIZE, fuse_pre=True, input_size=(2048, 1024), frame_dtype="uint8",
                              support=TRT_SUPPORT)
    with pytest.raises(UserError, match="--fuse-pre"):
        pipeline.export_model(entry, size=NET_SIZE, input_size=(2048, 1024))
    with pytest.raises(UserError, match="--input-size"):
        pipeline.export_model(entry, size=NET_SIZE, overlay_alpha=0.5)


def test_denormal_mask_reads_bits():
    from espnet_edge.host.export.denormals import denormal_mask

    # made from bit patterns: with flush-to-zero left on by an earlier ONNX Runtime session, converting
    # 1e-40 to float32 would already give 0
    # 0, -0, smallest denormal, -largest denormal, smallest normal, 1, inf, nan
    values = np.array([0, 0x80000000, 0x00000001, 0x807FFFFF, 0x00800000, 0x3F800000, 0x7F800000, 0x7FC00000],
                      np.uint32).view(np.float32)
    assert denormal_mask(values).tolist() == [False, False, True, True, False, False, False, False]
    doubles = np.array([0x0000000000000001, 0x0010000000000000], np.uint64).view(np.float64)
    assert denormal_mask(doubles).tolist() == [True, False]
    halves = np.array([0x03FF, 0x0400], np.uint16).view(np.float16)
    assert denormal_mask(halves).tolist() == [True, False]


@pytest.mark.slow
def test_export_flushes_denormals_and_reports_them(networks, tmp_path):
    report = pipeline.export_model(zoo.get_model("espnet-q8"), size=(256, 128), out_dir=str(tmp_path),
                                   images=[CITYSCAPES_IMAGES])
    flushed = report["denormals_flushed"]
    assert flushed["total"] > 0 and flushed["total"] == sum(flushed["per_tensor"].values())
    import onnx
    from onnx import numpy_helper

    for init in onnx.load(report["onnx"]).graph.initializer:
        array = numpy_helper.to_array(init)
        if array.dtype == np.float32:  # exponent bits all zero and mantissa not: a denormal
            bits = array.view(np.uint32)
            assert not np.any(((bits & 0x7F800000) == 0) & ((bits & 0x007FFFFF) != 0)), init.name
    assert report["verification"]["mask_agreement_min"] == 1.0  # vs the unflushed PyTorch network


@pytest.mark.slow
def test_uint8_overlay_graph_equals_the_float32_one(tmp_path):
    """uint8 frames in and overlay out (TensorRT 10, ONNX Runtime): the same pixels as the float32
    graph (whose Floor the uint8 Cast's truncation replaces)."""
    from espnet_edge.runtime.onnxruntime_runner import OnnxRuntimeRunner
    from espnet_edge.runtime.segmenter import Segmenter

    entry = zoo.get_model("espnet-c-q3")
    common = dict(size=(256, 128), fuse_pre=True, input_size=(2048, 1024), overlay_alpha=0.5,
                  out_dir=str(tmp_path), support=TRT_SUPPORT)
    f32 = pipeline.export_model(entry, **common)
    u8 = pipeline.export_model(entry, frame_dtype="uint8", trt_version="10", **common)
    assert u8["frame"]["dtype"] == "uint8" and u8["output"]["dtype"] == "uint8"
    frame = read_image(FRAME)
    mask32, image32 = Segmenter(OnnxRuntimeRunner(f32["onnx"])).segment_overlay(frame)
    mask8, image8 = Segmenter(OnnxRuntimeRunner(u8["onnx"])).segment_overlay(frame)
    assert np.array_equal(mask32, mask8) and np.array_equal(image32, image8)


@pytest.mark.parametrize("frame_size", [(1280, 720), (640, 480)])
def test_pil_blocks_on_saturated_and_random_pixels_equal_pillow(frame_size):
    """The block resize's exact rounding at its extremes: whole regions at 255 (the largest sums the
    split weights reach), at 0, alternating 0/255 columns and rows, and random pixels, through ONNX
    Runtime: Pillow's own pixels."""
    spec = zoo.get_model("espnetv2-s2.0-city-1024").preprocess
    width, height = frame_size
    frame = np.random.RandomState(7).randint(0, 256, (height, width, 3)).astype(np.uint8)
    frame[:height // 4] = 255
    frame[height // 4:height // 2, ::2] = 0
    frame[height // 4:height // 2, 1::2] = 255
    frame[height // 2:height // 2 + 40:2] = 255
    frame[:, :width // 8] = 0
    _assert_block_graph_is_the_cpu_path(spec, frame, (1024, 512))
