"""``--shapes`` for dynamic inputs: 'input:1x3x512x1024' or 'input:MIN/OPT/MAX', comma separated."""

import re

from espnet_edge.errors import UserError

_DIMS_RE = re.compile(r"^\d+(x\d+)*$")


def parse_dims(text, where):
    text = text.strip().lower()
    if not _DIMS_RE.match(text):
        raise UserError("shape {!r} in {} is not dims joined by x (for example 1x3x512x1024)".format(
            text, where))
    dims = tuple(int(d) for d in text.split("x"))
    if any(d <= 0 for d in dims):
        raise UserError("shape {!r} in {} has a zero dimension".format(text, where))
    return dims


def parse_shapes(specs):
    """['input:1x3x512x1024', 'other:1x3/2x3/4x3'] (or one comma-joined string)
    -> {name: (min, opt, max)} with each a tuple of ints; min <= opt <= max per dimension."""
    if not specs:
        return {}
    if isinstance(specs, str):
        specs = [specs]
    items = [item for spec in specs for item in spec.split(",") if item.strip()]
    shapes = {}
    for item in items:
        name, sep, dims = item.rpartition(":")
        name = name.strip()
        if not sep or not name:
            raise UserError("--shapes {!r} is not NAME:DIMS (for example input:1x3x512x1024 or "
                            "input:1x3x256x512/1x3x512x1024/1x3x1024x2048)".format(item))
        parts = dims.split("/")
        if len(parts) not in (1, 3):
            raise UserError("--shapes {!r}: give one shape or MIN/OPT/MAX".format(item))
        triple = [parse_dims(p, "--shapes " + item) for p in parts]
        if len(triple) == 1:
            triple = triple * 3
        if len(set(len(t) for t in triple)) != 1:
            raise UserError("--shapes {!r}: MIN/OPT/MAX must have the same rank".format(item))
        for low, mid, high in zip(*triple):
            if not low <= mid <= high:
                raise UserError("--shapes {!r}: need MIN <= OPT <= MAX in every dimension".format(item))
        if name in shapes:
            raise UserError("--shapes names input {!r} twice".format(name))
        shapes[name] = tuple(triple)
    return shapes


def is_dynamic(shape):
    return any(int(d) < 0 for d in shape)


def fill_profile(name, network_shape, given):
    """(min, opt, max) for one network input: the --shapes entry, or the static shape itself.

    Raises UserError when the input is dynamic and no --shapes entry covers it, or when the entry
    contradicts a static dimension.
    """
    network_shape = tuple(int(d) for d in network_shape)
    if name not in given:
        if is_dynamic(network_shape):
            raise UserError("input {!r} has dynamic shape {} : pass --shapes {}:{} (or MIN/OPT/MAX)".format(
                name, format_dims(network_shape), name,
                "x".join(str(d) if d > 0 else "N" for d in network_shape)))
        return (network_shape,) * 3
    triple = given[name]
    if len(triple[0]) != len(network_shape):
        raise UserError("--shapes {}: rank {} but the network input has rank {} ({})".format(
            name, len(triple[0]), len(network_shape), format_dims(network_shape)))
    for axis, fixed in enumerate(network_shape):
        if fixed > 0 and any(shape[axis] != fixed for shape in triple):
            raise UserError("--shapes {}: dimension {} is fixed to {} in the network ({})".format(
                name, axis, fixed, format_dims(network_shape)))
    return triple


def format_dims(shape):
    return "x".join(str(int(d)) if int(d) >= 0 else "-1" for d in shape)
