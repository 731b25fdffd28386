"""Will TensorRT's ONNX parser take this graph? A node-by-node check against its operator matrix.

The matrix is onnx-tensorrt's ``docs/operators.md`` as JSON (per TensorRT version: operators with
``supported``, input ``types`` and ``restrictions`` text, plus opset and data-type notes). Where it is
found: ``--support FILE``, else ``$ESPNET_EDGE_TRT_SUPPORT``, else the compact built-in table below,
which holds only the operators espnet-edge graphs use (tests check it against the full JSON).

Device side: Python 3.6, ``onnx`` imported inside functions.
"""

import os
import re

from espnet_edge import defaults
from espnet_edge.errors import UserError

ENV_VAR = "ESPNET_EDGE_TRT_SUPPORT"

# --trt VALUE -> key in the matrix
VERSION_ALIASES = {
    "8": "8.6", "8.2": "8.2", "8.2.1": "8.2", "8.4": "8.4", "8.5": "8.5", "8.6": "8.6",
    "10": "10.x-main", "10.x": "10.x-main", "10.x-main": "10.x-main", "10.0": "10.0",
}
DEFAULT_VERSION = defaults.TRT_CHECK_VERSION

# ONNX TensorProto data type number -> the matrix's type name
ONNX_TYPE_NAMES = {1: "FP32", 2: "UINT8", 3: "INT8", 6: "INT32", 7: "INT64", 9: "BOOL", 10: "FP16",
                   11: "DOUBLE", 16: "BF16"}
_NOTE_TYPE_NAMES = {"DOUBLE": "DOUBLE", "FLOAT32": "FP32", "FLOAT16": "FP16", "BFLOAT16": "BF16",
                    "INT32": "INT32", "INT64": "INT64", "INT8": "INT8", "UINT8": "UINT8", "BOOL": "BOOL",
                    "FP8": "FP8", "INT4": "INT4"}

_RESIZE_COORDS = ["half_pixel", "pytorch_half_pixel", "tf_half_pixel_for_nn", "asymmetric", "align_corners"]
_RESIZE_MODES = ["nearest", "linear"]
_NEAREST_MODES = ["floor", "ceil", "round_prefer_floor", "round_prefer_ceil"]


def _op(types, restrictions=""):
    return {"supported": True, "types": list(types), "restrictions": restrictions}


def _builtin_version(max_opset, min_opset, data_types, ops):
    return {"max_opset": max_opset, "min_opset": min_opset, "data_types": list(data_types),
            "operators": ops}


_F = ("FP32", "FP16")
_RESIZE_TEXT = "modes: nearest, linear; coordinate modes: " + ", ".join(_RESIZE_COORDS)

# The facts espnet-edge needs, per TensorRT version (from onnx-tensorrt docs/operators.md).
BUILTIN = {
    "8.2": _builtin_version(13, 1, ("DOUBLE", "FP32", "FP16", "INT8", "BOOL"), {
        "Conv": _op(_F + ("INT8",), "2D or 3D convolutions only; weights W must be an initializer"),
        "ConvTranspose": _op(_F + ("INT8",), "2D or 3D deconvolutions only; weights W must be an initializer"),
        "BatchNormalization": _op(_F), "PRelu": _op(_F + ("INT8",)), "Relu": _op(_F + ("INT8",)),
        "Add": _op(_F + ("INT32",)), "Mul": _op(_F + ("INT32",)), "Sub": _op(_F + ("INT32",)),
        "Div": _op(_F + ("INT32",)), "MatMul": _op(_F), "Concat": _op(_F + ("INT32", "INT8", "BOOL")),
        "AveragePool": _op(_F + ("INT8", "INT32"), "2D or 3D pooling only"),
        "MaxPool": _op(_F + ("INT8",), "2D or 3D pooling only; Indices output unsupported"),
        "GlobalAveragePool": _op(_F + ("INT8",)), "Sigmoid": _op(_F + ("INT8",)),
        "Resize": _op(_F, _RESIZE_TEXT), "Upsample": _op(_F),
        "Transpose": _op(_F + ("INT32", "INT8", "BOOL")), "Reshape": _op(_F + ("INT32", "INT8", "BOOL")),
        "Split": _op(_F + ("INT32", "BOOL")), "Slice": _op(_F + ("INT32", "INT8", "BOOL"), "axes must be an initializer"),
        "ArgMax": _op(_F), "Cast": _op(_F + ("INT32", "INT8", "BOOL")),
        "Identity": _op(_F + ("INT32", "INT8", "BOOL")), "Constant": _op(_F + ("INT32", "INT8", "BOOL")),
        "QuantizeLinear": _op(_F, "y_zero_point must be 0"),
        "DequantizeLinear": _op(("INT8",), "x_zero_point must be zero"),
        "NonZero": {"supported": False, "types": [], "restrictions": ""},
        # ENet's unpooling (ReduceMax, Equal), DeepLabv3+ (ReLU6 = Clip, Expand)
        "ReduceMax": _op(_F), "Equal": _op(_F + ("INT32",)), "Expand": _op(_F + ("INT32", "BOOL")),
        "Pad": _op(_F + ("INT8", "INT32")), "Clip": _op(_F + ("INT8",)),
        # frame graphs (export --input-size): Pillow's resize and the overlay
        "Floor": _op(_F), "Gather": _op(_F + ("INT8", "INT32")),
        "Squeeze": _op(_F + ("INT32", "INT8", "BOOL"), "axes must be an initializer"),
        "Unsqueeze": _op(_F + ("INT32", "INT8", "BOOL"), "axes must be a constant tensor"),
    }),
}
BUILTIN["8.4"] = _builtin_version(17, 1, BUILTIN["8.2"]["data_types"], dict(BUILTIN["8.2"]["operators"]))
BUILTIN["8.5"] = _builtin_version(17, 1, BUILTIN["8.2"]["data_types"], dict(BUILTIN["8.2"]["operators"]))
BUILTIN["8.5"]["operators"].update({"Conv": _op(_F + ("INT8",)), "ConvTranspose": _op(_F + ("INT8",)),
                                    "NonZero": _op(_F), "Gather": _op(_F + ("INT8", "INT32", "BOOL"))})
BUILTIN["8.6"] = _builtin_version(17, 1, BUILTIN["8.2"]["data_types"], dict(BUILTIN["8.5"]["operators"]))
BUILTIN["8.6"]["operators"].update({"ArgMax": _op(_F + ("INT32",)),
                                    "Cast": _op(_F + ("INT32", "INT8", "UINT8", "BOOL"))})
_F10 = ("FP32", "FP16", "BF16")
_I10 = ("INT32", "INT64")
BUILTIN["10.0"] = _builtin_version(20, 9, ("DOUBLE", "FP32", "FP16", "BF16", "INT32", "INT64", "FP8", "INT8",
                                           "INT4", "UINT8", "BOOL"), {
    "Conv": _op(_F10), "ConvTranspose": _op(_F10), "BatchNormalization": _op(_F10), "PRelu": _op(_F10),
    "Relu": _op(_F10 + _I10), "Add": _op(_F10 + _I10), "Mul": _op(_F10 + _I10), "Sub": _op(_F10 + _I10),
    "Div": _op(_F10 + _I10), "MatMul": _op(_F10), "Concat": _op(_F10 + _I10 + ("BOOL",)),
    "AveragePool": _op(_F10, "2D or 3D pooling only; dilations must be empty or all ones"),
    "MaxPool": _op(_F10, "2D or 3D pooling only; Indices output unsupported"),
    "GlobalAveragePool": _op(_F10), "Sigmoid": _op(_F10), "Resize": _op(_F10, _RESIZE_TEXT + "; no antialiasing"),
    "Upsample": _op(_F10), "Transpose": _op(_F10 + _I10 + ("BOOL",)), "Reshape": _op(_F10 + _I10 + ("BOOL",)),
    "Slice": _op(_F10 + _I10 + ("BOOL",), "axes must be an initializer"),
    "ArgMax": _op(_F10 + _I10), "Cast": _op(_F10 + _I10 + ("", "UINT8", "BOOL")),
    "Identity": _op(_F10 + _I10 + ("BOOL",)), "Constant": _op(_F10 + _I10 + ("BOOL",)),
    "QuantizeLinear": _op(_F10, "y_zero_point must be 0"),
    "DequantizeLinear": _op(("INT8", "FP8", "INT4"), "x_zero_point must be zero"),
    "NonZero": _op(_F),
    "ReduceMax": _op(_F10 + _I10, "`axes` must be an initializer"), "Equal": _op(_F10 + _I10),
    "Expand": _op(_F10 + _I10 + ("BOOL",)), "Pad": _op(_F10 + _I10, "`axes` must be an initializer"),
    "Clip": _op(_F10), "Floor": _op(_F10), "Gather": _op(_F10 + _I10 + ("BOOL",)),
    "Squeeze": _op(_F10 + _I10 + ("BOOL",), "axes must be an initializer"),
    "Unsqueeze": _op(_F10 + _I10 + ("BOOL",), "axes must be a constant tensor"),
})
BUILTIN["10.x-main"] = BUILTIN["10.0"]


class SupportTable(object):
    """What one TensorRT version's ONNX parser accepts."""

    def __init__(self, version, operators, max_opset, min_opset, data_types, source):
        self.version = version
        self.operators = operators
        self.max_opset = max_opset
        self.min_opset = min_opset
        self.data_types = set(data_types)
        self.source = source  # file path, or "built-in"

    @property
    def complete(self):
        return self.source != "built-in"

    @property
    def major(self):
        return int(self.version.split(".")[0])


def resolve_version(text):
    key = VERSION_ALIASES.get(str(text).strip().lower())
    if key is None:
        raise UserError("unknown TensorRT version {!r}; choose one of {} (10 = latest 10.x)".format(
            text, ", ".join(defaults.TRT_CHECK_VERSIONS)))
    return key


def support_path(explicit=None):
    """The matrix JSON to use, or None for the built-in table."""
    path = explicit or os.environ.get(ENV_VAR) or None
    if path and not os.path.isfile(path):
        origin = "--support" if explicit else "$" + ENV_VAR
        raise UserError("{} names {}, which does not exist; point it at onnx_trt_operator_support.json "
                        "or leave it unset to use the built-in table".format(origin, path))
    return path


def parse_opset_note(note):
    """'... up to Opset 13' -> (1, 13); '... range of opset 9 to opset 20' -> (9, 20)."""
    match = re.search(r"opset\s+(\d+)\s+to\s+opset\s+(\d+)", note, re.I)
    if match:
        return int(match.group(1)), int(match.group(2))
    match = re.search(r"up to opset\s+(\d+)", note, re.I)
    if match:
        return 1, int(match.group(1))
    raise UserError("cannot read the opset range from the support matrix note {!r}".format(note[:80]))


def parse_data_types_note(note):
    names = note.split(":", 1)[-1].replace(" and ", ",").split(",")
    return set(_NOTE_TYPE_NAMES[n.strip()] for n in names if n.strip() in _NOTE_TYPE_NAMES)


def load_support(version=DEFAULT_VERSION, path=None):
    """-> SupportTable for ``version`` from ``path`` / $ESPNET_EDGE_TRT_SUPPORT / the built-in table."""
    key = resolve_version(version)
    path = support_path(path)
    if path is None:
        table = BUILTIN[key]
        return SupportTable(key, table["operators"], table["max_opset"], table["min_opset"],
                            table["data_types"], "built-in")
    from espnet_edge.utils.textio import read_json

    data = read_json(path, what="the TensorRT support matrix " + path)
    if not isinstance(data.get(key), dict) or not isinstance(data[key].get("operators"), (list, dict)):
        raise UserError("support matrix {} has no TensorRT {} section (has: {})".format(
            path, key, ", ".join(sorted(data))))
    section = data[key]
    min_opset, max_opset = parse_opset_note(section.get("opset_note", ""))
    return SupportTable(key, section["operators"], max_opset, min_opset,
                        parse_data_types_note(section.get("data_types_note", "")), path)


class Issue(object):
    """One reason the parser would reject (or could not be shown to accept) the graph."""

    def __init__(self, message, node=None, op=None):
        self.message = message
        self.node = node
        self.op = op

    def __str__(self):
        if self.node is not None:
            return "node {!r} ({}): {}".format(self.node, self.op, self.message)
        return self.message

    def to_dict(self):
        return {"node": self.node, "op": self.op, "message": self.message}


def _load_model(model_or_path):
    import onnx

    if not isinstance(model_or_path, str):
        return model_or_path
    try:
        return onnx.load(model_or_path)
    except Exception as exc:  # protobuf raises its own DecodeError types
        raise UserError("cannot read ONNX file {} ({}: {}); the file is truncated or not ONNX: "
                        "export it again".format(model_or_path, type(exc).__name__, str(exc)[:80]))


def _tensor_types(graph):
    """name -> ONNX elem_type for every tensor whose type is known."""
    types = {}
    for info in list(graph.input) + list(graph.output) + list(graph.value_info):
        if info.type.HasField("tensor_type") and info.type.tensor_type.elem_type:
            types[info.name] = info.type.tensor_type.elem_type
    for init in graph.initializer:
        types[init.name] = init.data_type
    for node in graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    types[node.output[0]] = attr.t.data_type
    return types


def _attr(node, name, default=None):
    import onnx

    for attr in node.attribute:
        if attr.name == name:
            value = onnx.helper.get_attribute_value(attr)
            return value.decode() if isinstance(value, bytes) else value
    return default


def _constant_values(graph):
    """name -> numpy array for initializers and Constant outputs."""
    from onnx import numpy_helper

    values = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    values[node.output[0]] = numpy_helper.to_array(attr.t)
    return values


def _check_restrictions(node, entry, table, consts, producers):
    """Restrictions from the matrix that can be checked statically."""
    issues = []
    op = node.op_type
    if op == "Resize" or op == "Upsample":
        mode = _attr(node, "mode", "nearest")
        if mode not in _RESIZE_MODES:
            issues.append("resize mode {!r} unsupported (only {})".format(mode, ", ".join(_RESIZE_MODES)))
        coord = _attr(node, "coordinate_transformation_mode", "half_pixel")
        if op == "Resize" and coord not in _RESIZE_COORDS:
            issues.append("coordinate_transformation_mode {!r} unsupported (only {})".format(
                coord, ", ".join(_RESIZE_COORDS)))
        nearest = _attr(node, "nearest_mode", "round_prefer_floor")
        if mode == "nearest" and nearest not in _NEAREST_MODES:
            issues.append("nearest_mode {!r} unsupported".format(nearest))
        if _attr(node, "antialias", 0):
            issues.append("antialiasing is not supported")
    elif op in ("QuantizeLinear", "DequantizeLinear"):
        if len(node.input) > 2 and node.input[2]:
            zero = consts.get(node.input[2])
            if zero is None:
                issues.append("zero point {!r} must be a constant".format(node.input[2]))
            elif zero.any():
                issues.append("zero point must be 0 (TensorRT takes symmetric quantization only), "
                              "got {}".format(zero.ravel()[:4].tolist()))
            elif zero.dtype.name == "uint8" and "UINT8" not in table.data_types:
                issues.append("zero point is UINT8; TensorRT {} needs INT8".format(table.version))
        elif op == "QuantizeLinear" and "UINT8" not in table.data_types:
            issues.append("no zero point, so the output is UINT8; TensorRT {} needs an INT8 zero "
                          "point".format(table.version))
    elif op in ("Conv", "ConvTranspose") and "initiali" in entry.get("restrictions", ""):
        weight = node.input[1] if len(node.input) > 1 else ""
        source = producers.get(weight)
        from_dq = source is not None and source.op_type == "DequantizeLinear" and source.input[0] in consts
        if weight not in consts and not from_dq:
            issues.append("weights {!r} must be an initializer".format(weight))
        shape = consts[weight].shape if weight in consts else None
        if shape is not None and len(shape) not in (4, 5):
            issues.append("only 2D or 3D convolutions are supported (weights have rank {})".format(len(shape)))
    elif op in ("Slice", "Squeeze", "Unsqueeze") and len(node.input) > (3 if op == "Slice" else 1):
        axes = node.input[3] if op == "Slice" else node.input[1]
        if axes and axes not in consts:
            issues.append("axes must be an initializer")
    elif op == "MaxPool" and len(node.output) > 1 and node.output[1]:
        issues.append("the Indices output is unsupported")
    return issues


def check_model(model_or_path, version=DEFAULT_VERSION, support=None):
    """-> (SupportTable, [Issue]); an empty list means every node passed."""
    table = support if isinstance(support, SupportTable) else load_support(version, support)
    model = _load_model(model_or_path)
    graph = model.graph
    issues = []
    for opset in model.opset_import:
        if opset.domain in ("", "ai.onnx"):
            if opset.version > table.max_opset or opset.version < table.min_opset:
                issues.append(Issue("opset {} is outside what TensorRT {} parses ({} to {}); export with "
                                    "--opset {}".format(opset.version, table.version, table.min_opset,
                                                        table.max_opset, min(defaults.ONNX_OPSET, table.max_opset))))
        else:
            issues.append(Issue("operator domain {!r} (opset {}) is not standard ONNX; TensorRT's parser "
                                "takes only ai.onnx operators".format(opset.domain, opset.version)))
    types = _tensor_types(graph)
    consts = _constant_values(graph)
    producers = {}
    for node in graph.node:
        for out in node.output:
            producers[out] = node
    # tensors the network sees at its edges: TRT 8.x has no INT64/UINT8 bindings; INT32 bindings
    # exist in every version although the 8.x notes do not list the type
    io_types = table.data_types | {"INT32"}
    for info in list(graph.input) + list(graph.output):
        kind = ONNX_TYPE_NAMES.get(info.type.tensor_type.elem_type, str(info.type.tensor_type.elem_type))
        if kind not in io_types:
            issues.append(Issue("graph {} {!r} is {}, which TensorRT {} does not take (it takes {})".format(
                "input" if info in graph.input else "output", info.name, kind, table.version,
                ", ".join(sorted(io_types)))))
    for init in graph.initializer:
        kind = ONNX_TYPE_NAMES.get(init.data_type, str(init.data_type))
        if kind == "UINT8" and "UINT8" not in table.data_types:
            issues.append(Issue("initializer {!r} is UINT8, which TensorRT {} does not take".format(
                init.name, table.version)))
    for index, node in enumerate(graph.node):
        name = node.name or "{}_{}".format(node.op_type, index)
        if node.domain not in ("", "ai.onnx"):
            issues.append(Issue("custom operator domain {!r} is not supported".format(node.domain),
                                name, node.op_type))
            continue
        entry = table.operators.get(node.op_type)
        if entry is None:
            if table.complete:
                issues.append(Issue("operator not in TensorRT {}'s ONNX parser".format(table.version),
                                    name, node.op_type))
            else:
                issues.append(Issue("operator not in the built-in table; pass --support FILE (or set {}) "
                                    "with onnx_trt_operator_support.json to check it".format(ENV_VAR),
                                    name, node.op_type))
            continue
        if not entry.get("supported"):
            issues.append(Issue("operator not supported by TensorRT {}".format(table.version), name, node.op_type))
            continue
        allowed = set(entry.get("types") or [])
        if node.input and node.input[0] in types and allowed:
            kind = ONNX_TYPE_NAMES.get(types[node.input[0]], str(types[node.input[0]]))
            if kind == "INT64" and table.major < 10:
                kind = "INT32"  # the 8.x parser casts INT64 down to INT32
            if kind == "UINT8" and "UINT8" not in table.data_types:
                issues.append(Issue("input {!r} is UINT8, which TensorRT {} does not take".format(
                    node.input[0], table.version), name, node.op_type))
            elif kind not in allowed and node.op_type != "Constant":
                issues.append(Issue("input type {} not supported (supported: {})".format(
                    kind, ", ".join(sorted(t for t in allowed if t))), name, node.op_type))
        for text in _check_restrictions(node, entry, table, consts, producers):
            issues.append(Issue(text, name, node.op_type))
    return table, issues


def summarize(table, issues, path=None):
    """Human-readable lines for the CLI."""
    what = path or "graph"
    source = "built-in table" if not table.complete else table.source
    if not issues:
        return ["TensorRT {} check: {} passes (every node supported; matrix: {})".format(
            table.version, what, source)]
    lines = ["TensorRT {} check: {} has {} problem(s) (matrix: {}):".format(
        table.version, what, len(issues), source)]
    lines.extend("  " + str(issue) for issue in issues)
    return lines


def require_supported(model_or_path, version=DEFAULT_VERSION, support=None, what=None):
    """Raise UserError naming the first offending node (and how many more) if the check fails."""
    table, issues = check_model(model_or_path, version, support)
    if issues:
        issues = sorted(issues, key=lambda issue: issue.node is None)  # name a node when one fails
        more = " (and {} more; run `espnet-edge check-onnx` for the list)".format(len(issues) - 1) \
            if len(issues) > 1 else ""
        raise UserError("{} will not parse in TensorRT {}: {}{}".format(
            what or "the graph", table.version, issues[0], more))
    return table
