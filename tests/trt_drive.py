"""Child process of test_tensorrt_bindings_api.py: drive our builder, calibrator and runner against
strict stand-ins generated from NVIDIA's real bindings, for every TensorRT version path those
bindings can check. Prints one JSON list of results on its last line.

    LD_LIBRARY_PATH=<stand-in libs> python trt_drive.py <bindings dir> <work dir> <version> [<version> ...]

``TRT_DRIVE_CASES=name,name`` runs only those cases.

Needs: the bindings unzipped in <bindings dir> (module tensorrt_bindings), onnx (to write the tiny
model), the repository and tests/ on sys.path.
"""

import json
import os
import shutil
import sys
import traceback

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.dirname(HERE), HERE]

from espnet_edge.errors import UserError  # noqa: E402
from espnet_edge.runtime.tensorrt import builder, calibrator, compat, runner  # noqa: E402
from espnet_edge.runtime.tensorrt.tiny_model import reference, write_tiny_onnx  # noqa: E402
from host_cuda import HostCuda  # noqa: E402
from trt_strict import ApiSlip, strict_module  # noqa: E402
from trt_world import World  # noqa: E402


class Case(object):
    def __init__(self, name, run, world=None, planted=None):
        self.name, self.run, self.world_args, self.planted = name, run, world or {}, planted


def _files(work, name, dynamic=False, variants=()):
    folder = os.path.join(work, name)
    if os.path.isdir(folder):
        shutil.rmtree(folder)
    os.makedirs(folder)
    path, info = write_tiny_onnx(os.path.join(folder, "tiny-16x8.onnx"), batch=1, dynamic_batch=dynamic)
    for variant in variants:  # the exported typed files; the stand-in reads only their I/O
        shutil.copy(path, os.path.join(folder, "tiny-16x8-{}.onnx".format(variant)))
    return path, info


def _run_engine(engine, info, cuda, batch=1, cuda_graph=False):
    trt_runner = runner.TensorRTRunner(engine, cuda=cuda, cuda_graph=cuda_graph)
    try:
        width, height = info.input_size
        x = np.random.RandomState(batch).randn(batch, 3, height, width).astype(np.float32)
        y = trt_runner.infer(x)
        again = trt_runner.infer(x * 2)
        error = max(float(np.abs(y - reference(x)).max()), float(np.abs(again - reference(x * 2)).max()))
        return {"max_error": error, "graph": trt_runner.cuda_graph, "io_api": trt_runner.plan.io_api}
    finally:
        trt_runner.close()


def case_fp32(work, world, graph=False):
    path, info = _files(work, "fp32")
    engine = builder.build_engine(path, cuda=world.cuda, progress=False)
    return _run_engine(engine, info, world.cuda, cuda_graph=graph)


def case_fp16(work, world):
    path, info = _files(work, "fp16", variants=("fp16",))
    engine = builder.build_engine(path, fp16=True, cuda=world.cuda, progress=False)
    return _run_engine(engine, info, world.cuda)


def case_int8_calib(work, world):
    from conftest import CITYSCAPES_IMAGES

    path, info = _files(work, "int8c")
    engine = builder.build_engine(path, int8=True, calib=CITYSCAPES_IMAGES, cuda=world.cuda, progress=False,
                                  calib_images=2)
    cache = calibrator.cache_path_for(builder.base_stem(path) + "-int8", compat.format_version(
        sys.modules["tensorrt"].__version__))
    result = _run_engine(engine, info, world.cuda)
    result["cache_written"] = os.path.isfile(cache)
    # second build from the cache alone: no batches asked for
    again = builder.build_engine(path, int8=True, calib_cache=cache, cuda=world.cuda, progress=False,
                                 out=os.path.join(work, "int8c", "from-cache.engine"))
    result["from_cache"] = os.path.isfile(again)
    return result


def case_int8_qdq(work, world):
    path, info = _files(work, "int8q", variants=("int8",))
    engine = builder.build_engine(path, int8=True, cuda=world.cuda, progress=False)
    return _run_engine(engine, info, world.cuda)


def case_workspace_timing_report(work, world):
    path, info = _files(work, "ws")
    cache = os.path.join(work, "ws", "timing.cache")
    engine = builder.build_engine(path, workspace=64, timing_cache=cache, report=True, cuda=world.cuda,
                                  progress=False)
    with open(builder.report_path(engine)) as handle:
        report = json.load(handle)
    result = _run_engine(engine, info, world.cuda)
    result["timing_cache_written"] = os.path.isfile(cache)
    result["report_layers"] = report["layer_count"]
    return result


def case_dla(work, world):
    path, info = _files(work, "dla", variants=("fp16",))
    engine = builder.build_engine(path, fp16=True, dla=1, report=True, cuda=world.cuda, progress=False)
    with open(builder.report_path(engine)) as handle:
        report = json.load(handle)
    result = _run_engine(engine, info, world.cuda)
    result["dla_layers"] = len(report["dla_layers"])
    result["gpu_fallback_layers"] = len(report["gpu_fallback_layers"])
    return result


def case_dynamic(work, world):
    path, info = _files(work, "dyn", dynamic=True)
    engine = builder.build_engine(path, shapes=["input:1x3x8x16/2x3x8x16/4x3x8x16"], cuda=world.cuda,
                                  progress=False)
    errors = [_run_engine(engine, info, world.cuda, batch=b)["max_error"] for b in (1, 3)]
    return {"max_error": max(errors)}


def case_tx2_int8(work, world):
    from conftest import CITYSCAPES_IMAGES

    path, info = _files(work, "tx2")
    try:
        builder.build_engine(path, int8=True, calib=CITYSCAPES_IMAGES, cuda=world.cuda, progress=False)
    except UserError as exc:
        refused = str(exc)
    else:
        refused = None
    engine = builder.build_engine(path, int8=True, calib=CITYSCAPES_IMAGES, allow_fallback=True, cuda=world.cuda,
                                  progress=False)
    result = _run_engine(engine, info, world.cuda)
    result["refused"] = refused
    with open(engine + ".json") as handle:
        result["built_precision"] = json.load(handle)["precision"]
    return result


def case_no_context(work, world):
    path, info = _files(work, "noctx")
    engine = builder.build_engine(path, cuda=world.cuda, progress=False)
    try:
        _run_engine(engine, info, world.cuda)
    except UserError as exc:
        return {"refused": str(exc)}
    return {"refused": None}


def case_calibrator_failure(work, world):
    """A calibration image that cannot be read, inside TensorRT's calibration loop."""
    from conftest import CITYSCAPES_IMAGES

    path, info = _files(work, "badcal")
    frames = os.path.join(work, "badcal", "frames")
    os.makedirs(frames)
    good = calibrator.calibration_files(CITYSCAPES_IMAGES)[0]
    shutil.copy(good, os.path.join(frames, "a.png"))
    with open(os.path.join(frames, "b.png"), "wb") as handle:
        handle.write(b"not an image")
    try:
        builder.build_engine(path, int8=True, calib=frames, cuda=world.cuda, progress=False)
    except UserError as exc:
        return {"refused": str(exc), "freed": len(world.cuda.freed)}
    return {"refused": None}


def case_selftest(work, world):
    """doctor --selftest's TensorRT step: every I/O path of the version, with and without CUDA graph."""
    from espnet_edge.apps import selftest
    from espnet_edge.runtime.tensorrt import cuda as cuda_module

    folder = os.path.join(work, "selftest")
    os.makedirs(folder, exist_ok=True)
    original = cuda_module.open_cuda
    cuda_module.open_cuda = lambda prefer=None, device=0: world.cuda
    try:
        status, reason, details = selftest.check_tensorrt(folder)
    finally:
        cuda_module.open_cuda = original
    return {"status": status, "reason": reason, "max_error": max(r["max_abs_error"] for r in details["runs"]),
            "runs": [[r["io_api"], r["cuda_graph_used"]] for r in details["runs"]]}


def case_timings(work, world):
    """The runner's Timings after each call (its CUDA events), for both I/O paths the version has."""
    path, info = _files(work, "timings")
    engine = builder.build_engine(path, cuda=world.cuda, progress=False)
    trt_runner = runner.TensorRTRunner(engine, cuda=world.cuda, close_cuda=False)
    try:
        width, height = info.input_size
        x = np.random.RandomState(0).randn(1, 3, height, width).astype(np.float32)
        calls = []
        for _ in range(2):
            trt_runner.infer(x)
            calls.append(trt_runner.timings.to_dict())
        try:
            trt_runner.infer(x.astype(np.float64))
        except UserError as exc:
            refused = str(exc)
        else:
            refused = None
        return {"timings": calls, "refused_float64": refused, "note": trt_runner.TIMINGS}
    finally:
        trt_runner.close()


def case_bench_end_to_end(work, world):
    """`bench --end-to-end --json` on a TensorRT runner: espnet_edge.api.bench_segmenter, the one loop."""
    from espnet_edge.api import bench_segmenter
    from espnet_edge.runtime.segmenter import Segmenter

    path, _ = _files(work, "e2e")
    engine = builder.build_engine(path, cuda=world.cuda, progress=False)
    segmenter = Segmenter(runner.TensorRTRunner(engine, cuda=world.cuda, close_cuda=False))
    try:
        result = bench_segmenter(segmenter, warmup=1, iters=3, end_to_end=True, progress=False)
    finally:
        segmenter.close()
    return json.loads(json.dumps(result.to_dict()))


# planted mistakes: each replaces one small piece of our code with a wrong call
def plant_wrong_keyword():
    def wrong(trt, config, plan, workspace_mb):
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, size=int(workspace_mb) << 20)
    builder._set_workspace = wrong


def plant_float_pool():
    def wrong(trt, config, plan, workspace_mb):
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_mb * 1048576.0)
    builder._set_workspace = wrong


def plant_buffer_object():
    def wrong(self, tensors):
        self.bindings = list(self.device)
        if self.plan.named_tensors:
            for (name, _, _, _), buf in zip(tensors, self.device):
                self.context.set_tensor_address(name, buf)
    runner.TensorRTRunner._bind_addresses = wrong


def plant_execute_v2():
    original = compat.api_plan

    def wrong(version):
        return original(version)._replace(execute_call="execute_async_v2")
    compat.api_plan = wrong


def plant_explicit_batch():
    original = compat.precision_plan

    def wrong(*args, **kwargs):
        plan = original(*args, **kwargs)
        return plan._replace(network_flags=["EXPLICIT_BATCH"] + plan.network_flags)
    compat.precision_plan = wrong


CASES = [
    Case("fp32", case_fp32),
    Case("fp32+cuda_graph", lambda w, world: case_fp32(w, world, graph=True)),
    Case("fp16", case_fp16),
    Case("int8_calibrator", case_int8_calib),
    Case("int8_qdq", case_int8_qdq),
    Case("workspace+timing_cache+report", case_workspace_timing_report),
    Case("dla", case_dla, world={"dla_cores": 2}),
    Case("dynamic_shapes", case_dynamic),
    Case("tx2_int8_refusal", case_tx2_int8, world={"fast_int8": False}),
    Case("context_none", case_no_context, world={"context_fails": True}),
    Case("calibrator_failure", case_calibrator_failure),
    Case("selftest", case_selftest),
    Case("timings", case_timings),
    Case("bench_end_to_end", case_bench_end_to_end),
    Case("planted:wrong_keyword", case_workspace_timing_report, planted=plant_wrong_keyword),
    Case("planted:float_pool_size", case_workspace_timing_report, planted=plant_float_pool),
    Case("planted:buffer_object", case_fp32, planted=plant_buffer_object),
    Case("planted:execute_async_v2", case_fp32, planted=plant_execute_v2),
    Case("planted:explicit_batch", case_fp32, planted=plant_explicit_batch),
]

_ORIGINALS = {"set_workspace": builder._set_workspace, "bind": runner.TensorRTRunner._bind_addresses,
              "api_plan": compat.api_plan, "precision_plan": compat.precision_plan}


def _restore():
    builder._set_workspace = _ORIGINALS["set_workspace"]
    runner.TensorRTRunner._bind_addresses = _ORIGINALS["bind"]
    compat.api_plan = _ORIGINALS["api_plan"]
    compat.precision_plan = _ORIGINALS["precision_plan"]


def run_case(real, version, case, work):
    world = World(HostCuda(), version, **case.world_args)
    module = strict_module(real, version, world)
    sys.modules["tensorrt"] = module
    if case.planted:
        case.planted()
    result = {"version": version, "case": case.name}
    try:
        result["result"] = case.run(os.path.join(work, version), world)
        result["status"] = "ok"
    except (ApiSlip, AttributeError, TypeError) as exc:
        result["status"] = "slip"
        result["message"] = "{}: {}".format(type(exc).__name__, exc)
        result["where"] = traceback.format_exc().strip().splitlines()[-3].strip()
    except UserError as exc:
        result["status"] = "user_error"
        result["message"] = str(exc)
    except Exception as exc:  # noqa: BLE001 - reported to the test, which fails on it
        result["status"] = "error"
        result["message"] = "{}: {}".format(type(exc).__name__, exc)
        result["where"] = traceback.format_exc().strip().splitlines()[-3:]
    finally:
        _restore()
    if any(e[0] == "calibrated_batches" for e in world.events):
        from trt_strict import _is_deprecated

        if _is_deprecated(real.IInt8EntropyCalibrator2.__doc__):
            module._deprecated.append("IInt8EntropyCalibrator2")
    result["deprecated"] = sorted(set(module._deprecated))
    result["calls"] = sorted(set(module._recorder.calls))
    result["events"] = [e[0] if e[0] != "network_flags" else "network_flags=" + "|".join(e[1])
                        for e in world.events]
    return result


def main(argv):
    bindings, work, versions = argv[0], argv[1], argv[2:]
    sys.path.insert(0, bindings)
    os.environ.setdefault("ESPNET_EDGE_WEIGHTS", os.path.join(os.path.dirname(os.path.dirname(HERE)),
                                                              "shared", "weights"))
    import tensorrt_bindings as real

    only = [name for name in os.environ.get("TRT_DRIVE_CASES", "").split(",") if name]
    results = []
    for version in versions:
        for case in CASES:
            if not only or case.name in only:
                results.append(run_case(real, version, case, work))
    sys.stdout.write("\n" + json.dumps({"bindings": real.__version__, "results": results}) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
