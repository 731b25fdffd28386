"""Acceptance: our networks reproduce the authors' code on their checkpoints (reference outputs
in ../shared/reference produced with the authors' unmodified model code), through the torch runner
and our preprocessing of a real Cityscapes frame."""

import os

import numpy as np
import pytest

from espnet_edge import zoo
from espnet_edge.errors import UserError
from espnet_edge.images import read_image
from espnet_edge.preprocess import preprocess

from conftest import CITYSCAPES_IMAGES, REFERENCE

torch = pytest.importorskip("torch")
from espnet_edge.host.torch_runner import TorchRunner  # noqa: E402

FRAME = os.path.join(CITYSCAPES_IMAGES, "frankfurt_000000_000294_leftImg8bit.png")
REFERENCES = {
    "espnet-q8": "espnet_p2_q8_cityscapes.npz",
    "espnetv2-s2.0-city-1024": "espnetv2_s2.0_cityscapes_1024x512.npz",
}


def _reference(name):
    return np.load(os.path.join(REFERENCE, REFERENCES[name]))


EPS32 = float(np.finfo(np.float32).eps)


def accumulation_length(model):
    """Sum over the network's convolutions of one output's dot-product length (in/groups x kh x kw):
    how many float32 multiply-adds feed a logit along the network's depth."""
    return sum(conv.in_channels // conv.groups * conv.kernel_size[0] * conv.kernel_size[1]
               for conv in model.modules() if isinstance(conv, torch.nn.Conv2d))


def float32_tolerance(model, reference_logits):
    """Largest |logit difference| two correct float32 evaluations may show: rounding errors of a chain of
    n multiply-adds grow like sqrt(n) steps of one ulp (random-walk bound, Higham 2002 ch. 3), and one
    float32 step at the logits' magnitude is eps32 * max|logit|. oneDNN picks its kernels (summation
    order) by CPU and thread count, so this, not bit equality, is what "same network" means."""
    return np.sqrt(accumulation_length(model)) * EPS32 * float(np.abs(reference_logits).max())


def max_logit_diff(runner, reference):
    logits = runner.infer(reference["input_1x3x128x256"])
    assert logits.shape == reference["logits"].shape
    assert logits.dtype == np.float32
    return float(np.abs(logits - reference["logits"]).max())


@pytest.mark.slow
@pytest.mark.parametrize("threads", [1, None])
@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_logits_match_the_authors_code(name, threads, shared):
    reference = _reference(name)
    before = torch.get_num_threads()
    try:
        runner = TorchRunner(zoo.get_model(name), size=(256, 128), threads=threads)
        tolerance = float32_tolerance(runner.model, reference["logits"])
        # ESPNet: 123 ulp of 1470 = 0.022; ESPNetv2: 68 ulp of 20.7 = 1.7e-4 (reference values)
        assert tolerance < 1e-4 * float(np.abs(reference["logits"]).max()) * 0.2
        assert max_logit_diff(runner, reference) <= tolerance
    finally:
        torch.set_num_threads(before)


def test_parity_check_fails_on_one_changed_weight(shared):
    """The tolerance is not so loose that a real difference passes: one weight in the middle of
    ESPNetv2 moved by 1% of its layer's largest weight moves the logits by several times the bound (and the mask by nothing,
    which is why the logits are compared at all)."""
    name = "espnetv2-s2.0-city-1024"
    reference = _reference(name)
    runner = TorchRunner(zoo.get_model(name), size=(256, 128))
    tolerance = float32_tolerance(runner.model, reference["logits"])
    assert max_logit_diff(runner, reference) <= tolerance
    convs = [m for m in runner.model.modules() if isinstance(m, torch.nn.Conv2d)]
    weight = convs[len(convs) // 2].weight
    with torch.no_grad():
        weight.view(-1)[0] += 0.01 * float(weight.abs().max())
    assert max_logit_diff(runner, reference) > 3 * tolerance


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_mask_of_a_real_frame_matches_the_authors_pipeline(name, shared):
    entry = zoo.get_model(name)
    expected = _reference(name)["mask_frankfurt_000000_000294"]
    runner = TorchRunner(entry)
    batch = preprocess(read_image(FRAME), entry.preprocess, entry.input_size)
    assert batch.shape == runner.info.input_shape
    mask = runner.infer(batch)[0].argmax(axis=0)
    assert mask.shape == expected.shape == (512, 1024)
    assert float((mask == expected).mean()) >= 0.999
    # the frame is a street scene: road, building, vegetation, car must be there
    assert {0, 2, 8, 13} <= set(np.unique(mask).tolist())


def test_torch_runner_contract(shared):
    entry = zoo.get_model("espnetv2-s0.5-city-512")
    runner = TorchRunner(entry, size=(128, 64), batch=2, threads=1)
    assert runner.backend == "torch"
    assert runner.info.input_size == (128, 64)
    assert runner.info.input_shape == (2, 3, 64, 128)
    assert runner.info.checkpoint_sha256 == entry.sha256
    out = runner.infer(np.zeros((2, 3, 64, 128), np.float32))
    assert out.shape == (2, 20, 64, 128)
    described = runner.describe()
    assert described["backend"] == "torch" and described["threads"] == 1
    assert described["torch"] == torch.__version__
    with pytest.raises(UserError, match=r"expects input shaped \[N, 3, 64, 128\]"):
        runner.infer(np.zeros((1, 3, 64, 64), np.float32))
    runner.close()


def test_torch_runner_rejects_sizes_the_network_cannot_take(shared):
    with pytest.raises(UserError, match="multiples of 16"):
        TorchRunner("espnetv2-s0.5-city-512", size=(500, 250))
    with pytest.raises(UserError, match="multiples of 8"):
        TorchRunner("espnet-q3", size=(1000, 500))
    with pytest.raises(UserError, match="unknown model"):
        TorchRunner("espnet-q4")
