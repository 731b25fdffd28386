"""Network families, registered by the module that defines each network (timm's ``@register_model``).

    @register_family("enet", size_multiple=8, key_map=keymaps.ENET)
    def enet(arch):
        return ENet(classes=arch.get("num_classes", 20))

A family is the name a zoo entry's ``family`` gives, its builder (``arch`` dict -> nn.Module, random
weights), the multiple its input height and width must be (the network's total down-sampling) and the
key map that reads the public implementation's checkpoints (None: the authors' own names). Nothing else
lists families: host/models/factory.py builds, checks sizes and loads checkpoints from here.
"""

from typing import Any, Callable, NamedTuple

from espnet_edge.errors import UserError

_FAMILIES = {}


class Family(NamedTuple("Family", [("name", str), ("build", Callable), ("size_multiple", int),
                                   ("key_map", Any)])):
    """One registered family; ``key_map``: a keymaps.KeyMap, a function ``arch -> KeyMap`` (one map per
    backbone) or None."""
    __slots__ = ()

    def key_map_for(self, arch):
        """The keymaps.KeyMap reading this family's public checkpoints for ``arch``, or None."""
        if callable(self.key_map):
            return self.key_map(arch)
        return self.key_map


def register_family(name, size_multiple, key_map=None):
    """Decorator registering ``build(arch) -> nn.Module`` as family ``name``."""
    if not isinstance(size_multiple, int) or size_multiple <= 0:
        raise ValueError("family {}: size_multiple must be a positive int, got {!r}".format(name, size_multiple))

    def register(build):
        if name in _FAMILIES:
            raise ValueError("network family {} is registered twice".format(name))
        _FAMILIES[name] = Family(name, build, size_multiple, key_map)
        return build

    return register


def family_names():
    return sorted(_FAMILIES)


def get_family(name):
    """The registered Family ``name``; UserError naming the registered ones otherwise."""
    family = _FAMILIES.get(name)
    if family is None:
        raise UserError("unknown network family {!r}; choose one of {}".format(name, ", ".join(family_names())))
    return family
