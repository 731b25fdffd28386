"""The comparison networks (ENet, ERFNet, DeepLabv3+): parameter counts against published figures, key
maps that read state dicts shaped like the public checkpoints, ENet's TensorRT-8.2-friendly unpooling
proven equal to MaxUnpool, deterministic initialisation, ONNX export with ONNX Runtime parity, and the
one-line refusals of architecture-only models."""

import json
import math
import os
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from conftest import CITYSCAPES_IMAGES, TRT_SUPPORT, WEIGHTS, run_main
from espnet_edge import zoo
from espnet_edge.errors import UserError
from espnet_edge.host.models import build_model, build_network, count_parameters
from espnet_edge.host.models import deeplabv3plus, enet, factory

HERE_DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
PUBLIC = json.load(open(os.path.join(HERE_DATA, "public_state_dicts.json")))
FRAME = os.path.join(CITYSCAPES_IMAGES, "frankfurt_000000_000294_leftImg8bit.png")
NEW = ["enet-city", "erfnet-city", "deeplabv3plus-mobilenetv2-city", "deeplabv3plus-resnet101-city"]
MANIFEST = {"enet-city": "enet", "erfnet-city": "erfnet",
            "deeplabv3plus-mobilenetv2-city": "deeplabv3plus_mobilenet",
            "deeplabv3plus-resnet101-city": "deeplabv3plus_resnet101"}
ESPNET_CHECKPOINT = os.path.join(WEIGHTS, "espnet", "decoder", "espnet_p_2_q_3.pth")


def public_state(name, seed=0):
    """A state dict with exactly the public implementation's keys and shapes, every tensor distinct."""
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in PUBLIC[MANIFEST[name]]:
        state[key] = torch.tensor(7) if not shape else torch.rand(shape, generator=gen)
    return state


@pytest.fixture(scope="module")
def networks():
    return dict((name, build_network(zoo.get_model(name).family, zoo.get_model(name).arch)) for name in NEW)


# --- sizes -------------------------------------------------------------------------------------------
def test_parameter_counts_equal_the_public_implementations(networks):
    counts = PUBLIC["_source"]["trainable_parameters"]
    for name in NEW:
        entry = zoo.get_model(name)
        assert count_parameters(networks[name]) == entry.params, name
        public = counts[MANIFEST[name]]
        if name == "erfnet-city":
            public -= 128 * 20 + 20  # Eromera's encoder-only 1x1 classifier, never run by the full network
        assert entry.params == public, name


def test_parameter_counts_against_published_figures():
    # ESPNet paper (Mehta et al., ECCV 2018), Table 1: ERFNet 2.06 M, ENet 0.364 M.
    assert round(zoo.get_model("erfnet-city").params / 1e6, 2) == 2.06
    # davidtvs' ENet has one PReLU slope per activation; the original Torch ENet (and the paper's
    # 0.364 M) one per channel. The gap is 3.4 %, so that is the whole difference:
    enet_count = zoo.get_model("enet-city").params
    assert enet_count / 1e6 == pytest.approx(0.364, rel=0.04) and enet_count < 364000
    # torchvision's published sizes (docs, ``num_params`` of the ImageNet weights): MobileNetV2
    # 3,504,872 and ResNet-101 44,549,160. DeepLabv3+ keeps their convolutions without the classifier
    # (MobileNetV2 also without its 320->1280 last conv), as VainF/DeepLabV3Plus-Pytorch does.
    mobilenet = deeplabv3plus.MobileNetV2Backbone()
    assert count_parameters(mobilenet) == 3504872 - (1280 * 1000 + 1000) - (320 * 1280 + 2 * 1280)
    assert count_parameters(deeplabv3plus.ResNetBackbone()) == 44549160 - (2048 * 1000 + 1000)


def test_gflops_against_the_published_figure():
    # VainF/DeepLabV3Plus-Pytorch README, Cityscapes table: DeepLabV3Plus-MobileNet 135G at 1024x2048
    # (multiply-adds; the zoo counts at 1024x512, a quarter of the pixels)
    assert 4 * zoo.get_model("deeplabv3plus-mobilenetv2-city").gflops == pytest.approx(135, rel=0.01)
    gflops = dict((n, zoo.get_model(n).gflops) for n in NEW)
    assert gflops["enet-city"] < gflops["erfnet-city"] < gflops["deeplabv3plus-mobilenetv2-city"] < \
        gflops["deeplabv3plus-resnet101-city"]


def test_deeplab_is_output_stride_16_with_the_papers_aspp_and_decoder(networks):
    net = networks["deeplabv3plus-mobilenetv2-city"]
    aspp = net.head.aspp
    assert [b.conv.dilation[0] for b in aspp.branches] == [1, 6, 12, 18]
    assert net.head.low_project.conv.out_channels == 48
    with torch.no_grad():
        low, high = net.backbone(torch.zeros(1, 3, 256, 512))
    assert tuple(low.shape[2:]) == (64, 128) and tuple(high.shape[2:]) == (16, 32)  # stride 4 and 16
    with torch.no_grad():
        low, high = networks["deeplabv3plus-resnet101-city"].backbone(torch.zeros(1, 3, 128, 256))
    assert tuple(low.shape[1:]) == (256, 32, 64) and tuple(high.shape[1:]) == (2048, 8, 16)


# --- key maps ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NEW)
def test_key_map_loads_a_state_dict_shaped_like_the_public_checkpoint(name, networks):
    entry = zoo.get_model(name)
    net = networks[name]
    theirs = public_state(name)
    key_map = factory.key_map_for(entry)
    mapped = key_map.convert(theirs, net.state_dict())
    net.load_state_dict(dict(net.state_dict(), **mapped), strict=True)
    ours = net.state_dict()
    # every public tensor lands somewhere, unchanged, and no two land in the same place
    used = [k for k in theirs if not any(re.match(p, k) for p in key_map.ignored)]
    assert len(mapped) == len(used)
    for key in used:
        target = key_map.rename(key)
        assert torch.equal(ours[target], theirs[key]), (key, target)


def seeded_state(name, seed):
    """Weights of a sane scale for every key of the public checkpoint (the recipe that made
    tests/data/public_outputs.json with the public implementations' own code)."""
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in PUBLIC[MANIFEST[name]]:
        if not shape:
            state[key] = torch.tensor(7)
            continue
        u = torch.rand(shape, generator=gen)
        if key.endswith("running_var"):
            state[key] = 0.5 + u
        elif key.endswith("running_mean") or key.endswith("bias"):
            state[key] = (u - 0.5) * 0.2
        elif len(shape) == 4:  # conv weights: uniform with unit gain
            state[key] = (u - 0.5) * 2 * math.sqrt(3.0 / (shape[1] * shape[2] * shape[3]))
        else:  # batch-norm scale, PReLU slope
            state[key] = 0.5 + u * 0.5
    return state


@pytest.mark.parametrize("name", NEW)
def test_same_logits_as_the_public_implementation(name, networks):
    """With the same weights (through the key map) our network gives the public code's logits,
    recorded from their module code in tests/data/public_outputs.json."""
    recorded = json.load(open(os.path.join(HERE_DATA, "public_outputs.json")))[MANIFEST[name]]
    net = networks[name]
    mapped = factory.key_map_for(zoo.get_model(name)).convert(seeded_state(name, 3), net.state_dict())
    assert set(mapped) == set(net.state_dict())
    net.load_state_dict(mapped, strict=True)
    net.eval()
    x = torch.rand(1, 3, 64, 128, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        y = net(x).double()
    assert list(y.shape) == recorded["shape"]
    index = torch.randint(0, y.numel(), (64,), generator=torch.Generator().manual_seed(5))
    scale = recorded["abs_max"]  # float32 rounding over 20-100 layers, relative to the logits' size
    assert np.allclose(y.flatten()[index].numpy(), recorded["probe"], rtol=0, atol=1e-5 * scale)
    assert float(y.mean()) == pytest.approx(recorded["mean"], abs=1e-6 * scale)
    assert float(y.std()) == pytest.approx(recorded["std"], rel=1e-5)


def test_checkpoint_files_load_through_the_cli_path(tmp_path):
    # davidtvs saves {"epoch", "miou", "state_dict", "optimizer"}; Eromera saves nn.DataParallel keys
    enet_file, erf_file = str(tmp_path / "ENet"), str(tmp_path / "erfnet_pretrained.pth")
    torch.save({"epoch": 3, "miou": 0.5, "state_dict": public_state("enet-city", 1)}, enet_file)
    torch.save(dict(("module." + k, v) for k, v in public_state("erfnet-city", 2).items()), erf_file)
    net = build_model("enet-city", weights=enet_file)
    assert torch.equal(net.state_dict()["stage2.2.mid2_conv.weight"],
                       public_state("enet-city", 1)["asymmetric2_3.ext_conv2.3.weight"])
    net = build_model("erfnet-city", weights=erf_file)
    assert torch.equal(net.state_dict()["encoder.7.conv_h2.bias"],
                       public_state("erfnet-city", 2)["encoder.layers.7.conv1x3_2.bias"])


def test_checkpoint_of_another_architecture_names_missing_and_unexpected_keys(shared):
    with pytest.raises(UserError) as err:
        build_model("erfnet-city", weights=ESPNET_CHECKPOINT)
    message = str(err.value)
    assert "\n" not in message and "Eromera/erfnet_pytorch" in message
    assert "missing key(s) (decoder." in message and "134 unexpected key(s) (br.bias" in message


def test_checkpoint_with_other_shapes_says_which(tmp_path):
    state = public_state("deeplabv3plus-mobilenetv2-city")
    state["classifier.classifier.3.weight"] = torch.zeros(21, 256, 1, 1)  # a Pascal VOC checkpoint
    state["classifier.classifier.3.bias"] = torch.zeros(21)
    path = str(tmp_path / "voc.pth")
    torch.save({"model_state": state}, path)  # VainF wraps its weights in "model_state"
    with pytest.raises(UserError, match=r"head.classifier.bias is \[21\] here \[19\]"):
        build_model("deeplabv3plus-mobilenetv2-city", weights=path)


# --- ENet's unpooling --------------------------------------------------------------------------------
def test_mask_unpooling_is_exactly_maxpool_indices_and_maxunpool():
    gen = torch.Generator().manual_seed(0)
    # few distinct values: most windows hold ties, where the first maximum (row-major) must win
    for values in (torch.randint(0, 3, (2, 16, 32, 48), generator=gen).float(),
                   torch.randn(2, 16, 32, 48, generator=gen), torch.zeros(1, 4, 8, 8)):
        pooled, indices = F.max_pool2d(values, 2, 2, return_indices=True)
        ours, mask = enet.max_pool_with_mask(values)
        assert torch.equal(ours, pooled)
        other = torch.randn(pooled.shape, generator=gen)  # unpool something else, as ENet's decoder does
        expected = F.max_unpool2d(other, indices, 2, output_size=values.shape[2:])
        assert torch.equal(enet.max_unpool_with_mask(other, mask), expected)
        assert torch.equal(mask.reshape(values.shape[0], values.shape[1], -1).sum(-1),
                           torch.full(values.shape[:2], float(pooled[0, 0].numel())))


def test_mask_unpooling_is_exact_in_onnx_runtime_and_tensorrt_82(tmp_path):
    import onnxruntime as ort

    from espnet_edge.runtime import trt_support

    class PoolUnpool(torch.nn.Module):
        def forward(self, x, y):
            _pooled, mask = enet.max_pool_with_mask(x)
            return enet.max_unpool_with_mask(y, mask)

    x = torch.randint(0, 3, (1, 8, 16, 24), generator=torch.Generator().manual_seed(1)).float()
    y = torch.randn(1, 8, 8, 12)
    path = str(tmp_path / "unpool.onnx")
    torch.onnx.export(PoolUnpool(), (x, y), path, opset_version=13, input_names=["x", "y"], dynamo=False)
    _table, issues = trt_support.check_model(path, "8.2", TRT_SUPPORT)
    assert issues == []
    got = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {"x": x.numpy(), "y": y.numpy()})[0]
    _p, indices = F.max_pool2d(x, 2, 2, return_indices=True)
    assert np.array_equal(got, F.max_unpool2d(y, indices, 2, output_size=x.shape[2:]).numpy())


# --- initialisation, export, refusals ----------------------------------------------------------------
def test_architecture_only_init_is_deterministic_and_leaves_the_rng_alone():
    state = torch.random.get_rng_state()
    first = build_model("enet-city").state_dict()
    second = build_model("enet-city").state_dict()
    assert torch.equal(torch.random.get_rng_state(), state)
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert float(first["initial.bn.running_var"].min()) != 1.0  # statistics calibrated, not the defaults


@pytest.fixture(scope="module")
def small_exports(tmp_path_factory):
    from espnet_edge.host.export.pipeline import export_model

    out = str(tmp_path_factory.mktemp("cmp"))
    return dict((name, export_model(zoo.get_model(name), size=(256, 128), out_dir=out, support=TRT_SUPPORT,
                                    verify_limit=1))
                for name in ("enet-city", "erfnet-city", "deeplabv3plus-mobilenetv2-city"))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["enet-city", "erfnet-city", "deeplabv3plus-mobilenetv2-city"])
def test_small_exports_pass_tensorrt_82_and_match_pytorch(small_exports, name):
    import onnx

    report = small_exports[name]
    assert report["tensorrt_check"]["passed"] and report["checkpoint_sha256"] is None
    from espnet_edge.runtime import trt_support

    ops = set(n.op_type for n in onnx.load(report["onnx"]).graph.node)
    assert not ops & {"MaxUnpool", "Resize"} or name.startswith("deeplab")
    assert not ops & {"Shape", "Gather", "Pad", "Where"}, ops  # static graph, no Pad (VainF's padding in the conv)
    _table, issues = trt_support.check_model(report["onnx"], "8.2")  # the built-in table a board uses
    assert issues == []
    verification = report["verification"]
    assert verification["mask_agreement_min"] > 0.999
    if name != "enet-city":
        # logits of these untrained networks reach ~60 on a real frame: float32 over 30-60 layers
        assert verification["max_abs_logit_diff"] < 1e-2
    # ENet: where two inputs of a pooling window differ by float rounding, ONNX Runtime may pick the
    # other one and the unpooled value lands one pixel away (exactness of the op itself: test above)


def test_segment_refuses_architecture_only_models_without_weights(tmp_path, shared):
    image = FRAME
    proc = run_main("segment", "--model", "enet-city", "--out", str(tmp_path / "o"), image)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    line = proc.stderr.strip().splitlines()
    assert len(line) == 1 and "architecture only" in line[0] and "--weights" in line[0]
    assert "davidtvs/PyTorch-ENet" in line[0]
    proc = run_main("segment", "--model", "erfnet-city", "--weights", ESPNET_CHECKPOINT, "--backend", "torch",
                    "--out", str(tmp_path / "o2"), image)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "missing key(s)" in proc.stderr and "unexpected key(s)" in proc.stderr
    proc = run_main("eval", "--model", "deeplabv3plus-mobilenetv2-city", "--data", str(tmp_path))
    assert proc.returncode == 2 and "architecture only" in proc.stderr


@pytest.mark.slow
def test_enet_onnx_differs_from_pytorch_no_more_than_pytorch_float64_does(small_exports):
    """On a real frame, ENet's unpooling makes logits sensitive to rounding (a near-tie in a pooling
    window moves a value one pixel): PyTorch float64 vs float32 differ by ~1 at ~1% of the logits.
    ONNX Runtime must differ from PyTorch float32 no more than that."""
    import cv2
    import onnxruntime as ort

    from espnet_edge.preprocess import preprocess

    entry = zoo.get_model("enet-city")
    x = preprocess(cv2.imread(FRAME), entry.preprocess, (256, 128), "NCHW", False)
    x = np.ascontiguousarray(x, dtype=np.float32)
    net = build_model(entry)
    with torch.no_grad():
        ref = net(torch.from_numpy(x)).numpy()
        ref64 = net.double()(torch.from_numpy(x).double()).numpy()
    got = ort.InferenceSession(small_exports["enet-city"]["onnx"],
                               providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    rounding = np.abs(ref64 - ref)
    assert np.abs(got - ref).max() <= rounding.max() + 1e-3
    assert (np.abs(got - ref) > 1e-3).mean() <= 2 * (rounding > 1e-3).mean() + 1e-4
    assert (got.argmax(1) == ref.argmax(1)).mean() > 0.999


def test_models_command_lists_them_with_params_and_gflops():
    proc = run_main("models", "--json")
    assert proc.returncode == 0, proc.stderr
    rows = dict((row["name"], row) for row in json.loads(proc.stdout))
    for name in NEW:
        entry = zoo.get_model(name)
        assert rows[name]["params"] == entry.params and rows[name]["gflops"] == entry.gflops > 0
        assert rows[name]["architecture_only"] is True and rows[name]["weights_from"] == entry.weights_from
    table = run_main("models").stdout
    assert "enet-city" in table and "351,804" in table and "architecture only" in table


@pytest.mark.slow
def test_an_export_without_weights_is_refused_for_masks_but_runs_for_speed(small_exports, small_onnx, tmp_path):
    """The file itself says it was exported without trained weights: segment --onnx and load() refuse it
    (one line), bench runs it; a zoo checkpoint's export records trained=true."""
    import espnet_edge as ee
    from espnet_edge.runtime.tensorrt.onnxmeta import model_info

    untrained = small_exports["enet-city"]["onnx"]
    assert model_info(untrained).trained is False and model_info(small_onnx).trained is True
    proc = run_main("segment", "--onnx", untrained, "--out", str(tmp_path / "o"), FRAME)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert "exported without weights" in lines[0] and "--weights" in lines[0] and untrained in lines[0]
    assert not os.path.exists(str(tmp_path / "o" / "frankfurt_000000_000294_leftImg8bit.png"))
    with pytest.raises(UserError, match="exported without weights"):
        ee.load(untrained)
    proc = run_main("bench", "--onnx", untrained, "--warmup", "0", "--iters", "1")
    assert proc.returncode == 0, proc.stderr


@pytest.mark.slow
def test_what_is_known_trained_is_never_refused(small_exports, tmp_path):
    """A checkpoint passed with --weights is trained, whatever the backend; a file described by --model
    (its own weights unknown to the zoo) is not refused either. Only a file that says it was exported
    without weights is."""
    import argparse

    from espnet_edge.cli.common import segmenter_from_args

    enet_file = str(tmp_path / "ENet")
    torch.save({"state_dict": public_state("enet-city", 1)}, enet_file)
    base = dict(onnx=None, engine=None, weights=None, size="256x128", threads=None, batch=1)
    for options in (dict(model="enet-city", weights=enet_file, backend="torch"),
                    dict(model="enet-city", onnx=small_exports["enet-city"]["onnx"], backend="onnxruntime")):
        segmenter = segmenter_from_args(argparse.Namespace(**dict(base, **options)), trained_for="evaluate")
        assert segmenter.info.trained is (True if options.get("weights") else None)
        segmenter.close()
    args = argparse.Namespace(**dict(base, model=None, onnx=small_exports["enet-city"]["onnx"], backend="auto"))
    with pytest.raises(UserError, match="exported without weights"):
        segmenter_from_args(args, trained_for="evaluate")
