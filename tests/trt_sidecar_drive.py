"""Child process of test_tensorrt_sidecar_compat.py: engines and sidecars written by an earlier builder are
reused by this one (the cache key and the sidecar JSON did not change for the same build options).

    LD_LIBRARY_PATH=<stand-in libs> python trt_sidecar_drive.py record <bindings dir> <work dir> <out.json> <version>...
    LD_LIBRARY_PATH=<stand-in libs> python trt_sidecar_drive.py check <bindings dir> <work dir> <cases.json> <version>...

``record`` builds every request of REQUESTS through the strict stand-ins (trt_strict.py, trt_world.py) and
writes the engines and sidecars it got (paths as placeholders, see ``_to_placeholders``); it was run once
with the builder of commit 64b39bf (tests/data/trt_sidecars/SOURCES.md). ``check`` lays those files out
again, asks the current builder for the same builds and prints, per case, whether it reused the engine
(no build in the stand-in world) and what it logged. Where a recorded key covered absolute paths (--calib,
--calib-cache), it is recomputed for this run's paths with ``sidecar.cache_key`` over the recorded options
(cache_key itself is checked unchanged by the requests without paths).
"""

import base64
import copy
import json
import logging
import logging.handlers
import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.dirname(HERE), HERE]

from conftest import CITYSCAPES_IMAGES  # noqa: E402
from espnet_edge.runtime.tensorrt import builder  # noqa: E402
from espnet_edge.runtime.tensorrt.tiny_model import write_tiny_onnx  # noqa: E402
from host_cuda import HostCuda  # noqa: E402
from trt_strict import strict_module  # noqa: E402
from trt_world import World  # noqa: E402

DATA = os.path.join(HERE, "data", "trt_sidecars")
# name -> (build_engine keywords, World keywords, dynamic-batch model, exported variants beside it)
REQUESTS = {
    "fp32": ({}, {}, False, ()),
    "fp16": ({"fp16": True}, {}, False, ("fp16",)),
    "int8_qdq": ({"int8": True}, {}, False, ("int8",)),
    "int8_calib": ({"int8": True, "calib": "{calib}", "max_calib_images": 2}, {}, False, ()),
    "int8_calib_cache": ({"int8": True, "calib_cache": "{data}/tiny-int8.trt{trt}.calib"}, {}, False, ()),
    "tx2_int8_fallback": ({"int8": True, "calib": "{calib}", "allow_fallback": True, "max_calib_images": 2},
                          {"fast_int8": False}, False, ()),
    "workspace_timing_cache": ({"fp16": True, "workspace": 64, "timing_cache": "{work}/timing.cache"}, {}, False,
                               ()),
    "dla": ({"fp16": True, "dla": 1}, {"dla_cores": 2}, False, ()),
    "dynamic_shapes": ({"shapes": ["input:1x3x8x16/2x3x8x16/4x3x8x16"]}, {}, True, ()),
    # a frame graph's engine (ModelInfo.frame_size): its own layers pinned float32, a key option of its own
    "frame_graph": ({"fp16": True, "frame_size": [16, 8]}, {}, False, ()),
}


def _info(onnx, fields):
    """ModelInfo keyword (None: read from the ONNX metadata) for the request's 'frame_size'."""
    frame_size = fields.pop("frame_size", None)
    if frame_size is None:
        return None
    from espnet_edge.runtime.tensorrt import onnxmeta

    info = onnxmeta.model_info(onnx)
    info.frame_size = tuple(frame_size)
    return info


def _substitute(value, table):
    if isinstance(value, str):
        for placeholder, real in table:
            value = value.replace(placeholder, real)
        return value
    if isinstance(value, list):
        return [_substitute(v, table) for v in value]
    if isinstance(value, dict):
        return dict((k, _substitute(v, table)) for k, v in value.items())
    return value


def _to_placeholders(value, work, version):
    """Absolute paths of this run -> '{work}' (the case's folder), '{calib}' (the calibration images),
    '{data}' (this folder of recorded files)."""
    return _substitute(value, [(os.path.abspath(CITYSCAPES_IMAGES), "{calib}"), (work, "{work}"), (DATA, "{data}")])


def _from_placeholders(value, work, version):
    short = ".".join(version.split(".")[:3])
    return _substitute(value, [("{calib}", os.path.abspath(CITYSCAPES_IMAGES)), ("{work}", work),
                               ("{data}", DATA), ("{trt}", short)])


def _lay_out(work, dynamic, variants):
    if os.path.isdir(work):
        shutil.rmtree(work)
    os.makedirs(work)
    onnx = os.path.join(work, "tiny-16x8.onnx")
    shutil.copy(os.path.join(DATA, "tiny-dynamic.onnx" if dynamic else "tiny.onnx"), onnx)
    for variant in variants:   # the exported typed files; the stand-in reads only their I/O
        shutil.copy(onnx, os.path.join(work, "tiny-16x8-{}.onnx".format(variant)))
    return onnx


def _enter(real, version, world_args):
    world = World(HostCuda(), version, **world_args)
    sys.modules["tensorrt"] = strict_module(real, version, world)
    return world


def record(real, work_root, out, versions):
    if not os.path.isdir(DATA):
        os.makedirs(DATA)
    for name, dynamic in (("tiny.onnx", False), ("tiny-dynamic.onnx", True)):
        if not os.path.isfile(os.path.join(DATA, name)):
            write_tiny_onnx(os.path.join(DATA, name), batch=1, dynamic_batch=dynamic)
    cases = []
    if os.path.isfile(out):   # one run per bindings version, all into one file
        with open(out) as handle:
            cases = json.load(handle)["cases"]
    for version in versions:
        for name, (request, world_args, dynamic, variants) in sorted(REQUESTS.items()):
            work = os.path.join(work_root, version, name)
            onnx = _lay_out(work, dynamic, variants)
            world = _enter(real, version, world_args)
            fields = _from_placeholders(request, work, version)
            info = _info(onnx, fields)
            if info is not None:   # the stand-in network has no layer list: the key is what is recorded
                builder._keep_frame_layers_fp32 = lambda *args: None
            engine = builder.build_engine(onnx, cuda=world.cuda, progress=False, info=info, **fields)
            if name == "int8_calib":   # the cache int8_calib_cache reads
                short = ".".join(version.split(".")[:3])
                shutil.copy(os.path.join(work, "tiny-16x8-int8.trt{}.calib".format(short)),
                            os.path.join(DATA, "tiny-int8.trt{}.calib".format(short)))
            with open(engine + ".json") as handle:
                meta = json.load(handle)
            with open(engine, "rb") as handle:
                data = handle.read()
            cases.append({"name": name, "version": version, "engine": os.path.basename(engine),
                          "sidecar": _to_placeholders(meta, work, version),
                          "engine_base64": base64.b64encode(data).decode("ascii")})
    with open(out, "w") as handle:
        json.dump({"cases": cases}, handle, indent=1, sort_keys=True)
        handle.write("\n")


def rekey(meta):
    """The cache key of a recorded sidecar's material (for one whose paths were substituted)."""
    from espnet_edge.runtime.tensorrt import sidecar

    return sidecar.cache_key(meta["onnx_sha256"], meta["precision"], meta["shapes"], meta["tensorrt"],
                             meta["gpu"]["name"], meta["gpu"]["compute_capability"], meta["options"])


def _has_paths(meta):
    """A recorded sidecar whose options hold absolute paths (as placeholders)."""
    text = json.dumps(meta.get("options"))
    return any(placeholder in text for placeholder in ("{work}", "{calib}", "{data}"))


def check(real, work_root, cases_file, versions):
    from espnet_edge.runtime.tensorrt.build_options import BuildOptions

    with open(cases_file) as handle:
        cases = [case for case in json.load(handle)["cases"] if case["version"] in versions]
    lines = logging.handlers.BufferingHandler(1 << 16)   # the builder's notes, per case
    logging.getLogger("espnet_edge.runtime.tensorrt").addHandler(lines)
    results = []
    for case in cases:
        request, world_args, dynamic, variants = REQUESTS[case["name"]]
        version = case["version"]
        work = os.path.join(work_root, version, case["name"])
        onnx = _lay_out(work, dynamic, variants)
        engine = os.path.join(work, case["engine"])
        with open(engine, "wb") as handle:
            handle.write(base64.b64decode(case["engine_base64"]))
        meta = _from_placeholders(copy.deepcopy(case["sidecar"]), work, version)
        if _has_paths(case["sidecar"]):
            meta["key"] = rekey(meta)
        with open(engine + ".json", "w") as handle:
            json.dump(meta, handle)
        world = _enter(real, version, world_args)
        fields = _from_placeholders(request, work, version)
        info = _info(onnx, fields)
        if "max_calib_images" in fields:
            fields["calib_images"] = fields.pop("max_calib_images")
        lines.flush()
        got = builder.build_engine(onnx, BuildOptions(**fields), info=info, cuda=world.cuda, progress=False)
        results.append({"name": case["name"], "version": version, "engine": got == engine,
                        "built": [e[0] for e in world.events if e[0] == "built"],
                        "log": [record.getMessage() for record in lines.buffer]})
    sys.stdout.write("\n" + json.dumps(results) + "\n")


def main(argv):
    mode, bindings, work = argv[0], argv[1], argv[2]
    sys.path.insert(0, bindings)
    import tensorrt_bindings as real

    if mode == "record":
        record(real, work, argv[3], argv[4:])
    else:
        check(real, work, argv[3], argv[4:])


if __name__ == "__main__":
    main(sys.argv[1:])
