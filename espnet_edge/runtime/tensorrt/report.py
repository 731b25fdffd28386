"""Engine report: the layer table TensorRT's engine inspector gives (TensorRT >= 8.2).

``IEngineInspector.get_engine_information(LayerInformationFormat.JSON)`` returns
``{"Layers": [...], "Bindings": [...]}``. With ``ProfilingVerbosity.DETAILED`` each layer is an object
("Name", "LayerType", "Inputs"/"Outputs" with "Format/Datatype", "TacticName"/"TacticValue",
"Origin"); otherwise each layer is just its name. Fused layers are named by their parts joined with
" + " (e.g. "weight + QuantizeLinear_8 + Conv_12 + PWN(Clip_16)"). Sources: NVIDIA/TensorRT
trt-engine-explorer test data (kept in tests/data/trt_inspector with SOURCE.md) and Polygraphy's
engine printing (polygraphy/backend/trt/util.py), which reads the same keys.

DLA: a subgraph TensorRT gives to the DLA shows up as one layer; TensorRT's own log calls it
"[DlaLayer] {ForeignNode[...]}" (samples/sampleCudla/README.md). We count a layer as DLA when its
type or name says DLA/ForeignNode; this rule is unsourced for the JSON form (no DLA engine JSON
was found), so the report keeps the raw layer types beside it.
"""

import json
import re

from espnet_edge.errors import UserError
from espnet_edge.utils.atomic import write_json

# "Format/Datatype" words -> precision, checked in this order (as Polygraphy maps them)
_PRECISIONS = (("BFLOAT16", "bf16"), ("FP8", "fp8"), ("INT8", "int8"), ("FP16", "fp16"), ("HALF", "fp16"),
               ("FP32", "fp32"), ("FLOAT", "fp32"), ("INT32", "int32"), ("INT64", "int64"), ("BOOL", "bool"))
_PWN_RE = re.compile(r"^PWN\((.*)\)$")


def precision_of(format_text):
    text = str(format_text or "").upper()
    for key, name in _PRECISIONS:
        if key in text:
            return name
    return "unknown"


def fused_parts(name):
    """'w + QuantizeLinear_8 + Conv_12 + PWN(Clip_16)' -> ['w', 'QuantizeLinear_8', 'Conv_12', 'Clip_16'].

    PWN(...) (a fused pointwise group) may itself hold several ops joined with '+' or ','.
    """
    parts = []
    for part in str(name).split(" + "):
        part = part.strip()
        match = _PWN_RE.match(part)
        if match:
            parts.extend(p.strip() for p in re.split(r"[+,]", match.group(1)) if p.strip())
        elif part:
            parts.append(part)
    return parts


def is_dla_layer(layer_type, name):
    text = "{} {}".format(layer_type or "", name or "").lower()
    return "dla" in text or "foreignnode" in text


def parse_engine_information(text):
    """Inspector JSON (str or already-loaded dict) -> list of layer dicts:
    {'name', 'type', 'precision', 'tactic', 'fused', 'inputs', 'outputs', 'origin', 'device'}.
    Layers given by name only (lower profiling verbosity) have type/precision/tactic None."""
    try:
        data = json.loads(text) if isinstance(text, (str, bytes, bytearray)) else text
    except ValueError as exc:
        raise UserError("the TensorRT engine inspector returned text that is not JSON ({})".format(exc))
    if not isinstance(data, dict) or not isinstance(data.get("Layers"), list):
        raise UserError("the TensorRT engine inspector JSON has no 'Layers' list")
    layers = []
    for entry in data["Layers"]:
        if isinstance(entry, str):
            layers.append({"name": entry, "type": None, "precision": None, "tactic": None,
                           "fused": fused_parts(entry), "inputs": [], "outputs": [], "origin": None,
                           "device": "dla" if is_dla_layer(None, entry) else "gpu"})
            continue
        if not isinstance(entry, dict):
            raise UserError("the TensorRT engine inspector JSON has a layer that is neither a name nor an object")
        name = entry.get("Name", "")
        outputs = [{"name": t.get("Name"), "shape": t.get("Dimensions"), "format": t.get("Format/Datatype"),
                    "precision": precision_of(t.get("Format/Datatype"))} for t in entry.get("Outputs") or []]
        inputs = [{"name": t.get("Name"), "shape": t.get("Dimensions"), "format": t.get("Format/Datatype"),
                   "precision": precision_of(t.get("Format/Datatype"))} for t in entry.get("Inputs") or []]
        weights = (entry.get("Weights") or {}).get("Type")
        # the layer computes in its weights' type where it has weights, else in its output's
        precision = precision_of(weights) if weights else (outputs[0]["precision"] if outputs else "unknown")
        layers.append({
            "name": name, "type": entry.get("LayerType"), "precision": precision,
            "tactic": entry.get("TacticName") or entry.get("TacticValue"),
            "fused": fused_parts(name), "inputs": inputs, "outputs": outputs, "origin": entry.get("Origin"),
            "device": "dla" if is_dla_layer(entry.get("LayerType"), name) else "gpu",
        })
    return layers


def make_report(layers, meta=None, dla=None):
    """The JSON report: layers, counts per type and precision, and with --dla the GPU fallbacks."""
    meta = meta or {}
    by_precision, by_type = {}, {}
    for layer in layers:
        by_precision[layer["precision"] or "unknown"] = by_precision.get(layer["precision"] or "unknown", 0) + 1
        by_type[layer["type"] or "unknown"] = by_type.get(layer["type"] or "unknown", 0) + 1
    report = {
        "engine": meta.get("engine"), "precision": meta.get("precision"), "tensorrt": meta.get("tensorrt"),
        "gpu": meta.get("gpu"), "layers": layers, "layer_count": len(layers),
        "by_precision": by_precision, "by_type": by_type,
        "detailed": all(layer["type"] is not None for layer in layers),
    }
    if dla is not None:
        report["dla_core"] = dla
        report["dla_layers"] = [l["name"] for l in layers if l["device"] == "dla"]
        report["gpu_fallback_layers"] = [l["name"] for l in layers if l["device"] != "dla"]
    return report


def summary_lines(report, top=8):
    """A short text summary of ``make_report``'s result."""
    lines = ["{} layers after fusion; precision: {}".format(
        report["layer_count"], ", ".join("{} {}".format(n, p) for p, n in sorted(
            report["by_precision"].items(), key=lambda kv: -kv[1])))]
    if not report["detailed"]:
        lines.append("layer names only: the engine was not built with ProfilingVerbosity.DETAILED "
                     "(build --report sets it)")
    types = sorted(report["by_type"].items(), key=lambda kv: -kv[1])[:top]
    lines.append("layer types: " + ", ".join("{} {}".format(n, t) for t, n in types))
    fused = sorted((l for l in report["layers"] if len(l["fused"]) > 1), key=lambda l: -len(l["fused"]))
    if fused:
        lines.append("most fused: {} ops in {!r}".format(len(fused[0]["fused"]), fused[0]["name"][:80]))
    if "dla_layers" in report:
        lines.append("DLA core {}: {} layer(s) on the DLA, {} fell back to the GPU{}".format(
            report["dla_core"], len(report["dla_layers"]), len(report["gpu_fallback_layers"]),
            (": " + ", ".join(n[:40] for n in report["gpu_fallback_layers"][:top])) if
            report["gpu_fallback_layers"] else ""))
    return lines


def inspect_serialized(trt, logger, data):
    """Layer table of a serialized engine (needs TensorRT with a GPU: the engine is deserialized)."""
    runtime = trt.Runtime(logger)
    engine = runtime.deserialize_cuda_engine(data)
    if engine is None:
        raise UserError("TensorRT could not load the engine it just built, so there is no layer report")
    inspector = engine.create_engine_inspector()
    return parse_engine_information(inspector.get_engine_information(trt.LayerInformationFormat.JSON))


def write_report(path, report):
    write_json(path, report)
    return path
