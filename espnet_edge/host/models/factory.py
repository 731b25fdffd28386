"""Zoo entry -> torch network, with the authors' checkpoint loaded and checked.

Which network a family is, the multiple its input size must be and the key map of its public checkpoints
come from the family registry (host/models/registry.py), filled by the network modules imported here.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

from espnet_edge import zoo
from espnet_edge.errors import UserError
from espnet_edge.host.models import deeplabv3plus, enet, erfnet, espnet, espnetv2  # noqa: F401 - register
from espnet_edge.host.models.registry import get_family
from espnet_edge.weights import find_weights

INIT_SEED = 0  # architecture-only networks: seeded weights ...
INIT_CALIBRATION_SIZE = (256, 128)  # ... and batch-norm statistics from one seeded noise batch this size


class UpsampleOutput(nn.Module):
    """Wraps a 1/8-resolution network (ESPNet-A/B/C) with the authors' x8 bilinear upsampling
    (align_corners=False) so it returns logits at the input resolution."""

    def __init__(self, net, factor=8):
        super().__init__()
        self.net = net
        self.factor = factor

    def forward(self, x):
        return F.interpolate(self.net(x), scale_factor=self.factor, mode="bilinear",
                             align_corners=False)


def _entry(entry_or_name):
    if isinstance(entry_or_name, zoo.ModelEntry):
        return entry_or_name
    return zoo.get_model(entry_or_name)


def build_network(family, arch):
    """The raw network (random weights, eval mode) for ``family`` and an arch dict, e.g.
    ``build_network("espnet-c", {"p": 2, "q": 8, "num_classes": 20})``; ESPNet-A/B/C return 1/8 logits.
    The arch keys are each family's builder's (host/models/<module>.py, ``@register_family``)."""
    return get_family(family).build(arch).eval()


def wrap_output(family, net):
    """Add the x8 upsampling to the 1/8-resolution ESPNet variants; others unchanged."""
    if getattr(net, "output_stride", 1) != 1:
        return UpsampleOutput(net, net.output_stride).eval()
    return net


def read_state_dict(path):
    """Load a .pth file as a state dict (tensors only); one-line UserError when it is not one."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except OSError as exc:
        raise UserError("cannot read checkpoint {}: {}".format(path, exc.strerror or exc))
    except Exception as exc:   # noqa: BLE001 - one flipped byte raises anything from the unpickler
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError("cannot read checkpoint {}: the file is corrupt, truncated or not a PyTorch checkpoint "
                        "({}: {}); download it again and check its sha256 (`espnet-edge models --json` lists the "
                        "zoo's), or pass the right --weights".format(path, type(exc).__name__, first[:160]))
    for wrapper in ("state_dict", "model_state"):  # training checkpoints (VainF: "model_state")
        if isinstance(state, dict) and isinstance(state.get(wrapper), dict):
            state = state[wrapper]
            break
    if not isinstance(state, dict) or not state or \
            not all(isinstance(k, str) and torch.is_tensor(v) for k, v in state.items()):
        raise UserError("checkpoint {} is not a state dict of tensors (it holds {}); pass the "
                        "published .pth of the model".format(path, type(state).__name__))
    return state


def _few(keys, count=3):
    keys = sorted(keys)
    shown = ", ".join(keys[:count])
    return shown + (", ..." if len(keys) > count else "")


def key_map_for(entry):
    """The keymaps.KeyMap that reads ``entry``'s public checkpoints, or None (ESPNet: our own names)."""
    return get_family(entry.family).key_map_for(entry.arch)


def load_checkpoint(net, path, name="model", key_map=None):
    """Load ``path`` into ``net`` strictly (through ``key_map`` for checkpoints of a public
    implementation with other module names); UserError naming what does not fit."""
    state = read_state_dict(path)
    if any(k.startswith("module.") for k in state):  # saved from nn.DataParallel
        state = {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}
    expected = net.state_dict()
    if key_map is not None:
        state = key_map.convert(state, expected, "checkpoint {}".format(path))
    # PyTorch < 0.4.1 checkpoints (ESPNet) have no num_batches_tracked counters; they hold no weights.
    ignorable = {k for k in expected if k.endswith("num_batches_tracked")}
    missing = [k for k in expected if k not in state and k not in ignorable]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        raise UserError("checkpoint {} is for another architecture than {}: {} missing key(s) ({}), "
                        "{} unexpected key(s) ({}); pass the checkpoint of this model".format(
                            path, name, len(missing), _few(missing) or "-", len(unexpected),
                            _few(unexpected) or "-"))
    wrong = [k for k, v in state.items() if tuple(v.shape) != tuple(expected[k].shape)]
    if wrong:
        k = sorted(wrong)[0]
        raise UserError("checkpoint {} is for another architecture than {}: {} tensor(s) have other "
                        "shapes (e.g. {} is {} here {}); pass the checkpoint of this model".format(
                            path, name, len(wrong), k, list(state[k].shape), list(expected[k].shape)))
    broken = [k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if broken:
        raise UserError("checkpoint {} holds NaN or infinite values ({}): the file is corrupt; download it again "
                        "and check its sha256, or pass the right --weights".format(path, _few(broken)))
    full = dict(expected)
    full.update(state)
    try:
        net.load_state_dict(full, strict=True)
    except Exception as exc:   # noqa: BLE001 - what the checks above did not foresee is still one line
        raise UserError("checkpoint {} does not load into {} ({}: {}); pass the checkpoint of this model".format(
            path, name, type(exc).__name__, str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ""))
    return net


def deterministic_init(family, arch):
    """An architecture-only network with reproducible weights: seeded init (the process's RNG untouched),
    batch-norm statistics from one seeded noise batch and the classifier scaled to logits of unit spread
    on it, so activations keep a trained network's scale for speed/power runs."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(INIT_SEED)
        net = build_network(family, arch)
        noise = torch.randn(2, 3, INIT_CALIBRATION_SIZE[1], INIT_CALIBRATION_SIZE[0])
    norms = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for module in norms:
        module.momentum = None  # cumulative average: after one batch, the batch's statistics
        module.reset_running_stats()
        module.train()
    with torch.no_grad():
        net(noise)
        for module in norms:
            module.momentum = 0.1
        net.eval()
        # logits of unit spread, as a trained network gives, so float32 rounding stays comparable
        classifier = [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))][-1]
        spread = float(net(noise).std())
        classifier.weight.div_(spread)
        if classifier.bias is not None:
            classifier.bias.div_(spread)
    return net


def build_model(entry_or_name, weights=None, pretrained=True):
    """Zoo entry (or name) -> eval-mode network returning logits [N, classes, H, W] at the input size.

    ``weights``: an explicit .pth; otherwise found with ``espnet_edge.weights.find_weights``.
    ``pretrained=False`` gives the same network with random weights. Architecture-only entries
    without ``weights`` get ``deterministic_init``; their ``weights`` go through the entry's key map."""
    entry = _entry(entry_or_name)
    if entry.architecture_only:
        if not (pretrained and weights):
            return deterministic_init(entry.family, entry.arch)
        net = build_network(entry.family, entry.arch)
        return load_checkpoint(net, find_weights(entry, explicit=weights), entry.name, key_map_for(entry)).eval()
    net = build_network(entry.family, entry.arch)
    if pretrained:
        load_checkpoint(net, find_weights(entry, explicit=weights), entry.name)
    return wrap_output(entry.family, net).eval()


def count_parameters(net):
    """Trainable parameters (what the papers count; batch-norm running stats excluded)."""
    return sum(p.numel() for p in net.parameters() if p.requires_grad)


def check_size(entry_or_name, size):
    """UserError unless (width, height) fits the network's down-sampling."""
    entry = _entry(entry_or_name)
    multiple = get_family(entry.family).size_multiple
    width, height = size
    if width <= 0 or height <= 0 or width % multiple or height % multiple:
        raise UserError("input size {}x{} does not fit {}: width and height must be positive multiples "
                        "of {} (e.g. {}x{})".format(width, height, entry.name, multiple,
                                                    max(multiple, width // multiple * multiple),
                                                    max(multiple, height // multiple * multiple)))
    return size
