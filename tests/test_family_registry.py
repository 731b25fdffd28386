"""The family registry (host/models/registry.py, timm's register_model): every zoo family is registered
by its network module, builds, and brings its size multiple and key map; nothing else lists families."""

import pytest

torch = pytest.importorskip("torch")

from espnet_edge import zoo  # noqa: E402
from espnet_edge.errors import UserError  # noqa: E402
from espnet_edge.host.models import build_network, check_size, family_names, get_family, register_family  # noqa: E402
from espnet_edge.host.models import factory  # noqa: E402


def zoo_families():
    """{family: the first zoo entry of it}."""
    found = {}
    for name in zoo.list_models():
        entry = zoo.get_model(name)
        found.setdefault(entry.family, entry)
    return found


def test_every_zoo_family_is_registered():
    assert set(zoo_families()) <= set(family_names())
    # the paper's ESPNet-A and -B have no checkpoint but are built for the ablation (tests/test_models.py)
    assert set(family_names()) - set(zoo_families()) == {"espnet-a", "espnet-b"}


@pytest.mark.parametrize("family", sorted(zoo_families()))
def test_every_zoo_family_builds_and_runs_at_its_size_multiple(family):
    entry = zoo_families()[family]
    multiple = get_family(family).size_multiple
    width, height = 2 * multiple, multiple
    check_size(entry, (width, height))
    with pytest.raises(UserError, match="multiples of {}".format(multiple)):
        check_size(entry, (width + multiple // 2, height))
    net = build_network(family, entry.arch)
    assert not net.training
    with torch.inference_mode():
        out = net(torch.zeros(1, 3, height, width))
    stride = entry.output_stride
    assert tuple(out.shape) == (1, entry.num_classes, height // stride, width // stride)


def test_architecture_only_entries_load_through_their_implementations_key_map():
    for name in zoo.list_models():
        entry = zoo.get_model(name)
        key_map = factory.key_map_for(entry)
        if entry.architecture_only:
            assert key_map is not None and entry.weights_from.startswith(key_map.source), name
            assert key_map.name.endswith(entry.arch.get("backbone", "")), name   # one map per backbone
        else:
            assert key_map is None, name   # the authors' own checkpoints: our module names are theirs


def test_unknown_and_duplicate_families_are_refused():
    with pytest.raises(UserError) as error:
        build_network("espnet-d", {})
    assert "unknown network family 'espnet-d'" in str(error.value) and "espnetv2" in str(error.value)
    with pytest.raises(ValueError, match="registered twice"):
        register_family("enet", size_multiple=8)(lambda arch: None)
    with pytest.raises(ValueError, match="positive int"):
        register_family("new", size_multiple=0)
