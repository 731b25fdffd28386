"""The JSON beside every engine: where it came from, what it was built for, and the cache key.

``model.engine`` gets ``model.engine.json``. The runtime reads the ModelInfo from it (no ONNX needed
on the device), checks the engine file against the recorded size and sha256 (a truncated copy is
caught before TensorRT sees it) and refuses an engine built for another GPU or TensorRT version.
"""

import hashlib
import json
import os
import time
from typing import Any, Dict, NamedTuple, Optional

from espnet_edge import __version__
from espnet_edge.errors import UserError
from espnet_edge.jetson import detect
from espnet_edge.runtime.tensorrt.build_options import BuildOptions
from espnet_edge.runtime.tensorrt.compat import short_version
from espnet_edge.utils.atomic import write_json
from espnet_edge.utils.digest import sha256_of

FORMAT = 1
SUFFIX = ".json"


def sidecar_path(engine_path):
    return engine_path + SUFFIX


def shapes_json(shapes):
    """{name: (min, opt, max)} -> {name: [[...], [...], [...]]}, as the sidecar and cache key hold it."""
    return {k: [list(s) for s in v] for k, v in sorted((shapes or {}).items())}


def cache_key(onnx_sha256, precision, shapes, tensorrt_version, gpu_name, compute_capability,
              options=None):
    """A hex digest that changes when anything that changes the engine changes."""
    material = {
        "onnx_sha256": onnx_sha256,
        "precision": precision,
        "shapes": shapes_json(shapes),
        "tensorrt": short_version(tensorrt_version),
        "gpu": gpu_name,
        "compute_capability": str(compute_capability),
        "options": options or {},
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode("utf-8")).hexdigest()


class BuildInputs(NamedTuple("BuildInputs", [
        ("onnx", str), ("onnx_sha256", str), ("precision", str), ("shapes", Dict[str, Any]),
        ("tensorrt_version", str), ("gpu_name", str), ("compute_capability", str), ("options", BuildOptions),
        ("onnx_variant", Optional[str]), ("frame_graph", bool)])):
    """What one engine is built from, as the builder decided it: the ONNX file parsed (``onnx``, the
    exported variant ``onnx_variant`` where one was chosen) and its sha256, the precision built, the
    --shapes given ({name: (min, opt, max)}), the TensorRT version, the GPU, the BuildOptions and whether
    it is a frame graph. ``key()`` is the engine cache key; ``make_sidecar`` writes all of it."""
    __slots__ = ()

    def key_options(self):
        return self.options.key_options(self.onnx_variant, self.frame_graph)

    def key(self):
        return cache_key(self.onnx_sha256, self.precision, self.shapes, self.tensorrt_version, self.gpu_name,
                         self.compute_capability, self.key_options())


def make_sidecar(engine_path, engine_bytes, inputs, build_seconds, info, notes=(), jetson=None):
    """The sidecar of an engine built from ``inputs`` (BuildInputs); ``jetson``: jetson_release()."""
    return {
        "format": FORMAT,
        "engine": os.path.basename(engine_path),
        "engine_bytes": len(engine_bytes),
        "engine_sha256": hashlib.sha256(engine_bytes).hexdigest(),
        "onnx": os.path.abspath(inputs.onnx),
        "onnx_sha256": inputs.onnx_sha256,
        "precision": inputs.precision,
        "shapes": shapes_json(inputs.shapes),
        "tensorrt": inputs.tensorrt_version,
        "gpu": {"name": inputs.gpu_name, "compute_capability": str(inputs.compute_capability)},
        "jetson": jetson,  # {"l4t", "jetpack"} or None off Jetson
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "build_seconds": round(float(build_seconds), 3),
        "options": inputs.key_options(),
        "notes": list(notes),
        "key": inputs.key(),
        "model_info": info.to_dict() if hasattr(info, "to_dict") else info,
        "espnet_edge": __version__,
    }


def write_sidecar(engine_path, data):
    write_json(sidecar_path(engine_path), data)


def read_sidecar(engine_path, required=True):
    """-> the sidecar dict; None if absent and not required; UserError if unreadable."""
    path = sidecar_path(engine_path)
    if not os.path.isfile(path):
        if not required:
            return None
        raise UserError("engine {} has no sidecar {}: build engines with `espnet-edge build MODEL.onnx` "
                        "(it writes both), or copy the .json along with the engine".format(engine_path, path))
    from espnet_edge.utils.textio import read_json

    data = read_json(path, kind=None, what="sidecar " + path)
    if not isinstance(data, dict) or data.get("format") != FORMAT or "key" not in data:
        raise UserError("sidecar {} is not an espnet-edge engine sidecar (format {}); rebuild the engine "
                        "with `espnet-edge build`".format(path, FORMAT))
    return data


def rebuild_command(sidecar, out=None):
    """The `espnet-edge build ...` line that makes this engine again on the current machine."""
    options = sidecar.get("options") or {}
    parts = ["espnet-edge", "build", sidecar.get("onnx") or "MODEL.onnx"]
    precision = sidecar.get("precision", "fp32")
    if options.get("requested") == "int8" or precision == "int8":
        parts.append("--int8")
        if options.get("calib"):
            parts += ["--calib", options["calib"]]
    elif precision == "fp16" or options.get("requested") == "fp16":
        parts.append("--fp16")
    for name, triple in sorted((sidecar.get("shapes") or {}).items()):
        if triple and triple[0] != triple[2]:
            parts += ["--shapes", "{}:{}".format(name, "/".join("x".join(str(d) for d in s) for s in triple))]
    if out:
        parts += ["--out", out]
    return " ".join(parts)


def describe_target(tensorrt_version, gpu_name, compute_capability):
    return "TensorRT {} on {} (sm_{})".format(tensorrt_version, gpu_name,
                                              str(compute_capability).replace(".", ""))


def check_compatible(sidecar, tensorrt_version, gpu_name, compute_capability, engine_path="engine"):
    """Raise UserError naming both targets when the engine was built for another TensorRT or GPU."""
    built_trt = sidecar.get("tensorrt") or "?"
    gpu = sidecar.get("gpu") or {}
    same_trt = built_trt != "?" and short_version(built_trt) == short_version(tensorrt_version)
    same_gpu = (str(gpu.get("compute_capability")) == str(compute_capability)
                and gpu.get("name") == gpu_name)
    if same_trt and same_gpu:
        return
    what = []
    if not same_trt:
        what.append("TensorRT version")
    if not same_gpu:
        what.append("GPU")
    raise UserError("{} was built for {} but this machine has {} (different {}); TensorRT engines do "
                    "not move between them: rebuild it here with `{}`".format(
                        engine_path, describe_target(built_trt, gpu.get("name", "?"),
                                                     gpu.get("compute_capability", "?")),
                        describe_target(tensorrt_version, gpu_name, compute_capability),
                        " and ".join(what), rebuild_command(sidecar, out=engine_path)))


def verify_engine_file(engine_path, sidecar):
    """Raise UserError if the engine file is not the one the sidecar describes (truncated, replaced)."""
    size = os.path.getsize(engine_path)
    expected = sidecar.get("engine_bytes")
    if expected is not None and size != expected:
        raise UserError("engine {} is {} bytes but was written as {} bytes (truncated or partly copied); "
                        "copy it again or rebuild it with `{}`".format(
                            engine_path, size, expected, rebuild_command(sidecar, out=engine_path)))
    digest = sidecar.get("engine_sha256")
    if digest:
        if sha256_of(engine_path) != digest:
            raise UserError("engine {} does not match its sidecar (sha256 differs: corrupted or replaced); "
                            "rebuild it with `{}`".format(engine_path, rebuild_command(sidecar, out=engine_path)))


def cache_decision(engine_path, key):
    """('reuse', why) when ``engine_path`` exists with a sidecar of the same key and an intact file,
    else ('rebuild', why)."""
    if not os.path.isfile(engine_path):
        return "rebuild", "no engine at {}".format(engine_path)
    try:
        sidecar = read_sidecar(engine_path)
    except UserError as exc:
        return "rebuild", str(exc)
    if sidecar.get("key") != key:
        return "rebuild", "engine {} was built from other inputs (key {} != {})".format(
            engine_path, sidecar.get("key", "?")[:12], key[:12])
    try:
        verify_engine_file(engine_path, sidecar)
    except UserError as exc:
        return "rebuild", str(exc)
    return "reuse", "engine {} matches (key {})".format(engine_path, key[:12])


def jetson_release():
    """{'l4t': '32.7.1', 'jetpack': '4.6.1'} from /etc/nv_tegra_release (jetson.detect, the one reader;
    ESPNET_EDGE_SYSFS_ROOT prefix honoured), or None off Jetson."""
    found = detect.read_release()
    if not found:
        return None
    return {"l4t": found["release"], "jetpack": detect.l4t_to_jetpack(found["release"])}
