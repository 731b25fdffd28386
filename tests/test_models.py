"""The authors' networks: every zoo checkpoint loads strictly, parameter counts, shapes, GFLOPs,
ESPNet-A/B/C structure, size checks and one-line errors for bad checkpoints."""

import math
import os

import numpy as np
import pytest
import torch

from espnet_edge import zoo
from espnet_edge.errors import UserError
from espnet_edge.host.models import (build_model, build_network, check_size, count_macs,
                                     count_parameters, read_state_dict, wrap_output)
from espnet_edge.host.models import espnet, espnetv2
from espnet_edge.weights import find_weights

from conftest import WEIGHTS  # noqa: F401  (sets ESPNET_EDGE_WEIGHTS to ../shared/weights)

ALL = [n for n in zoo.list_models() if not zoo.get_model(n).architecture_only]  # published checkpoints


@pytest.mark.slow
@pytest.mark.parametrize("name", ALL)
def test_every_checkpoint_loads_strictly_with_the_zoo_parameter_count(name, shared):
    entry = zoo.get_model(name)
    model = build_model(entry)
    assert not model.training
    state = read_state_dict(find_weights(entry))
    net = model.net if hasattr(model, "net") else model
    expected = set(net.state_dict())
    # the checkpoint covers every tensor (older ones lack only the num_batches_tracked counters)
    assert set(state) <= expected
    assert {k for k in expected - set(state) if not k.endswith("num_batches_tracked")} == set()
    for key, value in state.items():
        assert torch.equal(net.state_dict()[key], value), key
    assert count_parameters(model) == entry.params
    if entry.published_params_m is not None:
        millions = entry.params / 1e6
        # the paper's Table 2 truncates to 3 decimals (0.202649 M -> 0.202)
        assert math.floor(millions * 1000) / 1000 == pytest.approx(entry.published_params_m)


def test_paper_table2_figures_are_all_there():
    published = {n: zoo.get_model(n).published_params_m for n in ALL if n.startswith("espnet-")}
    assert published == {
        "espnet-c-q3": 0.187, "espnet-c-q5": 0.252, "espnet-c-q8": 0.349,
        "espnet-q3": 0.202, "espnet-q5": 0.267, "espnet-q8": 0.364, "espnet-q8-camvid": None,
    }


@pytest.mark.parametrize("name", ["espnet-c-q3", "espnet-q8-camvid", "espnetv2-s0.5-pascal-256",
                                  "espnetv2-s1.0-city-512"])
def test_output_is_logits_at_the_native_input_size(name, shared):
    entry = zoo.get_model(name)
    width, height = entry.input_size
    with torch.inference_mode():
        out = build_model(entry)(torch.zeros(1, 3, height, width))
    assert tuple(out.shape) == (1, entry.num_classes, height, width)
    assert torch.isfinite(out).all()


def test_espnet_c_is_upsampled_x8_bilinearly_from_the_encoder_output(shared):
    model = build_model("espnet-c-q3")
    x = torch.randn(1, 3, 64, 128, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        low = model.net(x)
        full = model(x)
    assert tuple(low.shape) == (1, 20, 8, 16)
    expected = torch.nn.functional.interpolate(low, scale_factor=8, mode="bilinear", align_corners=False)
    assert torch.equal(full, expected)


def _esp_params(n_in, n_out, k):
    n = n_out // k
    first = n_out - (k - 1) * n
    return n_in * n + 9 * n * first + 9 * n * n * (k - 1) + 3 * n_out  # convs, BN (2) + PReLU (1)


def test_esp_module_parameters_follow_reduce_split_transform_merge():
    for n_in, n_out, k in ((64, 64, 5), (128, 128, 5), (128, 128, 4), (40, 20, 5)):
        module = espnet.ESPModule(n_in, n_out, k)
        assert count_parameters(module) == _esp_params(n_in, n_out, k)
        assert module.branches == ["d{}".format(2 ** i) for i in range(k)]
        dilations = [getattr(module, b).conv.dilation[0] for b in module.branches]
        assert dilations == [2 ** i for i in range(k)]


def test_esp_module_hierarchical_fusion_and_residual():
    module = espnet.ESPModule(20, 20, 5).eval()
    x = torch.randn(1, 20, 16, 16)
    reduced = module.c1(x)
    branches = [getattr(module, b)(reduced) for b in module.branches]
    fused = [branches[0]] + list(torch.cumsum(torch.stack(branches[1:]), 0))
    with torch.inference_mode():
        expected = module.bn(x + torch.cat(fused, 1))
        assert torch.allclose(module(x), expected, atol=1e-5)
    strided = espnet.StridedESP(20, 40, 5)
    assert tuple(strided(x).shape) == (1, 40, 8, 8)


@pytest.mark.parametrize("q", [3, 5, 8])
def test_espnet_a_b_c_are_nested_and_output_one_eighth(q):
    nets = {f: build_network(f, {"p": 2, "q": q, "num_classes": 20}) for f in ("espnet-a", "espnet-b", "espnet-c")}
    counts = {f: count_parameters(n) for f, n in nets.items()}
    assert counts["espnet-a"] < counts["espnet-b"] < counts["espnet-c"]
    # B adds BN+PReLU after two concatenations and widens level-3 input and classifier
    assert counts["espnet-c"] == zoo.get_model("espnet-c-q{}".format(q)).params
    with torch.inference_mode():
        for family, net in nets.items():
            assert tuple(net(torch.zeros(1, 3, 64, 96)).shape) == (1, 20, 8, 12), family
            up = wrap_output(family, net)
            assert tuple(up(torch.zeros(1, 3, 64, 96)).shape) == (1, 20, 64, 96), family


def test_width_divider_k_and_depths_are_parameters():
    base = count_parameters(build_network("espnet", {"p": 2, "q": 3}))
    deeper = count_parameters(build_network("espnet", {"p": 3, "q": 3}))
    assert deeper - base == _esp_params(64, 64, 5)
    k4 = build_network("espnet-c", {"p": 2, "q": 3, "k": 4})
    assert k4.level3[0].branches == ["d1", "d2", "d4", "d8"]
    with torch.inference_mode():
        assert tuple(k4(torch.zeros(1, 3, 32, 32)).shape) == (1, 20, 4, 4)


def test_espnetv2_branch_dilations_follow_the_receptive_field_limits():
    assert espnetv2.branch_dilations(4, 13) == [1, 2, 3, 4]
    assert espnetv2.branch_dilations(4, 7) == [1, 1, 2, 3]
    net = build_network("espnetv2", {"s": 1.0, "num_classes": 20})
    dil = [m.conv.dilation[0] for m in net.base_net.level4[0].spp_dw]
    assert dil == [1, 1, 2, 3]


def test_pyramid_pool_is_the_one_patchable_adaptive_pooling(monkeypatch):
    net = build_network("espnetv2", {"s": 0.5, "num_classes": 20})
    x = torch.randn(1, 3, 64, 128, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        reference = net(x)
    calls = []

    def spy(tensor, size):
        calls.append((tuple(tensor.shape[2:]), tuple(size)))
        return torch.nn.functional.adaptive_avg_pool2d(tensor, size)

    monkeypatch.setattr(espnetv2, "pyramid_pool", spy)
    with torch.inference_mode():
        assert torch.equal(net(x), reference)
    # 4 EPP blocks x (0.5, 0.1 down-pooling + 2.0, 1.5 back-pooling)
    assert len(calls) == 16
    assert ((4, 8), (5, 5)) in calls and ((6, 12), (4, 8)) in calls


def test_gflops_recomputed_match_the_zoo_and_the_authors_figures():
    # the EdgeNets model zoo README: ESPNetv2 s=2.0, 256x256: 337.58 MFLOPs, 512x256: 674.78
    authors = {"espnetv2-s2.0-pascal-256": 0.33758, "espnetv2-s2.0-city-512": 0.67478}
    for name, published in authors.items():
        entry = zoo.get_model(name)
        macs = count_macs(wrap_output(entry.family, build_network(entry.family, entry.arch)), entry.input_size)
        assert abs(macs / 1e9 - entry.gflops) <= 0.0005
        assert abs(macs / 1e9 - published) / published < 0.003
    camvid = zoo.get_model("espnet-q8-camvid")
    net = build_network(camvid.family, camvid.arch)
    assert abs(count_macs(net, camvid.input_size) / 1e9 - camvid.gflops) <= 0.0005


def test_every_entry_has_gflops_growing_with_size():
    for name in ALL:
        assert zoo.get_model(name).gflops > 0
    assert zoo.get_model("espnetv2-s2.0-city-1024").gflops == pytest.approx(
        4 * zoo.get_model("espnetv2-s2.0-city-512").gflops, rel=0.01)
    assert zoo.get_model("espnet-c-q3").gflops < zoo.get_model("espnet-c-q8").gflops < zoo.get_model("espnet-q8").gflops


def test_size_multiples():
    assert check_size("espnet-q8", (480, 360)) == (480, 360)
    assert check_size("espnetv2-s2.0-city-1024", (1024, 512)) == (1024, 512)
    with pytest.raises(UserError, match="multiples of 8"):
        check_size("espnet-q8", (1020, 512))
    with pytest.raises(UserError, match="multiples of 16 .*1008x496"):
        check_size("espnetv2-s2.0-city-1024", (1016, 504))


def _one_line(excinfo):
    message = str(excinfo.value)
    assert "\n" not in message and "Traceback" not in message
    return message


def test_checkpoint_of_another_architecture_names_missing_and_unexpected_keys(shared):
    encoder = find_weights(zoo.get_model("espnet-c-q3"))
    with pytest.raises(UserError) as excinfo:
        build_model("espnet-q3", weights=encoder)
    message = _one_line(excinfo)
    assert "another architecture" in message
    assert "134 missing key(s) (br.bias, " in message
    assert "99 unexpected key(s) (b1.act.weight, " in message
    v2 = find_weights(zoo.get_model("espnetv2-s0.5-city-512"))
    with pytest.raises(UserError, match="another architecture than espnetv2-s1.0-city-512: .*other shapes"):
        build_model("espnetv2-s1.0-city-512", weights=v2)


def test_truncated_checkpoint_is_a_one_line_error(tmp_path, shared):
    source = find_weights(zoo.get_model("espnet-q3"))
    with open(source, "rb") as handle:
        data = handle.read()
    for cut in (len(data) // 2, 100):
        broken = tmp_path / "cut{}.pth".format(cut)
        broken.write_bytes(data[:cut])
        with pytest.raises(UserError) as excinfo:
            build_model("espnet-q3", weights=str(broken))
        assert "corrupt, truncated or not a PyTorch checkpoint" in _one_line(excinfo)
    text = tmp_path / "notes.pth"
    text.write_text("not a checkpoint\n")
    with pytest.raises(UserError, match="corrupt, truncated"):
        build_model("espnet-q3", weights=str(text))


def test_a_pickle_that_is_not_a_state_dict_is_a_one_line_error(tmp_path):
    for index, payload in enumerate(([1, 2, 3], torch.zeros(3), {"epoch": 3})):
        path = tmp_path / "thing{}.pth".format(index)
        torch.save(payload, str(path))
        with pytest.raises(UserError) as excinfo:
            build_model("espnet-q3", weights=str(path))
        assert "is not a state dict of tensors" in _one_line(excinfo)


def test_missing_weights_file_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        build_model("espnet-q3", weights=str(tmp_path / "none.pth"))


def test_unpretrained_network_has_the_same_structure():
    model = build_model("espnetv2-s0.5-city-512", pretrained=False)
    assert count_parameters(model) == zoo.get_model("espnetv2-s0.5-city-512").params
    assert not np.isnan(sum(float(p.detach().sum()) for p in model.parameters()))
    assert os.environ.get("ESPNET_EDGE_WEIGHTS")
