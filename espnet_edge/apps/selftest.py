"""`espnet-edge doctor --selftest`: what works on this board, in one JSON report a user can attach.

Steps (each ``ok``, ``failed`` or ``skipped`` with the reason):
  tensorrt   build a tiny engine from a tiny ONNX made without torch (runtime/tensorrt/tiny_model.py),
             run it through every I/O path this TensorRT has, with and without CUDA graph, against
             the numpy reference
  gpu_clock  read the GPU clock (devfreq) of this Jetson
  clock_pin  dry-run a pin to the lowest frequency and the restore (nothing is written)
  tegrastats two seconds of live tegrastats, parsed
  power      the power rails tegrastats reports and which of them make the board's total
"""

import io
import os
import platform
import tempfile
import time
import traceback

import numpy as np

from espnet_edge.errors import MissingDependency, UserError

# fp32 through TensorRT: conv of values ~1 with weights ~1; TF32 (Ampere+) keeps ~1e-3 relative
FP32_TOLERANCE = 5e-3
TEGRASTATS_SECONDS = 2.0


def _step(name, func, *args):
    started = time.time()
    try:
        status, reason, details = func(*args)
    except (UserError, MissingDependency) as exc:
        status, reason, details = "failed", str(exc), {}
    except Exception as exc:  # noqa: BLE001 - a self-test reports every failure, it never stops early
        status, reason = "failed", "{}: {}".format(type(exc).__name__, exc)
        details = {"traceback": traceback.format_exc().strip().splitlines()[-6:]}
    return {"step": name, "status": status, "reason": reason, "seconds": round(time.time() - started, 2),
            "details": details}


def _skip(reason, details=None):
    return "skipped", reason, details or {}


# --- TensorRT ---------------------------------------------------------------------------------------
def io_paths(version):
    """The engine I/O paths a TensorRT version offers: named tensors from 8.5, the binding API before 10."""
    from espnet_edge.runtime.tensorrt.compat import parse_version

    major_minor = parse_version(version)[:2]
    paths = []
    if major_minor < (10, 0):
        paths.append("bindings")
    if major_minor >= (8, 5):
        paths.append("tensors")
    return paths


def check_tensorrt(workdir, cuda_backend=None):
    try:
        import tensorrt
    except ImportError as exc:
        return _skip("TensorRT is not installed for this Python ({})".format(exc))
    from espnet_edge.runtime.tensorrt.builder import build_engine
    from espnet_edge.runtime.tensorrt.cuda import open_cuda
    from espnet_edge.runtime.tensorrt.runner import TensorRTRunner
    from espnet_edge.runtime.tensorrt.tiny_model import reference, write_tiny_onnx

    try:
        cuda = open_cuda(cuda_backend)
    except (UserError, MissingDependency) as exc:
        return _skip("TensorRT {} is here but CUDA is not usable: {}".format(tensorrt.__version__, exc))
    try:
        try:
            onnx_path, info = write_tiny_onnx(os.path.join(workdir, "selftest-16x8.onnx"), batch=1)
        except MissingDependency as exc:
            return _skip(str(exc))
        engine = build_engine(onnx_path, cuda=cuda, progress=False, report=True)
        width, height = info.input_size
        batch = np.random.RandomState(0).uniform(-1, 1, (1, 3, height, width)).astype(np.float32)
        expected = reference(batch)
        runs = []
        worst = 0.0
        for io_api in io_paths(tensorrt.__version__):
            for graph in (False, True):
                runner = TensorRTRunner(engine, cuda=cuda, cuda_graph=graph, io_api=io_api, close_cuda=False)
                try:
                    got = runner.infer(batch)
                    error = float(np.abs(got - expected).max())
                    runs.append({"io_api": io_api, "cuda_graph_requested": graph,
                                 "cuda_graph_used": runner.cuda_graph, "max_abs_error": error,
                                 "timings_ms": runner.timings.to_dict()})
                    worst = max(worst, error)
                finally:
                    runner.close()
        details = {"tensorrt": tensorrt.__version__, "cuda": cuda.name, "gpu": cuda.device_name(),
                   "compute_capability": cuda.compute_capability(), "engine": engine, "runs": runs,
                   "tolerance": FP32_TOLERANCE}
    finally:
        cuda.close()
    if worst > FP32_TOLERANCE:
        return "failed", "TensorRT output differs from the numpy reference by {:.3g}".format(worst), details
    return "ok", "", details


# --- Jetson clocks and sampling ---------------------------------------------------------------------
def check_gpu_clock():
    from espnet_edge.jetson import detect
    from espnet_edge.jetson.clocks import GpuState

    info = detect.detect()
    if not info.is_jetson:
        return _skip("not a Jetson (no NVIDIA devfreq GPU under /sys/class/devfreq)")
    states = [GpuState(gpu).to_dict() for gpu in info.gpus]
    return "ok", "", {"board": info.board_name, "gpus": states}


def check_clock_pin():
    from espnet_edge.jetson import detect
    from espnet_edge.jetson.clocks import GpuClockPin, GpuState, mhz

    info = detect.detect()
    if not info.is_jetson:
        return _skip("not a Jetson: no GPU clock to pin")
    lowest = mhz(GpuState(info.gpus[0]).table[0])
    log = io.StringIO()
    with GpuClockPin(lowest, dry_run=True, log=log) as pin:
        applied = pin.applied_mhz
    lines = [line for line in log.getvalue().splitlines() if line.strip()]
    return "ok", "", {"dry_run_mhz": applied, "log": lines}


def check_tegrastats(seconds=TEGRASTATS_SECONDS):
    from espnet_edge.profiler.samplers import TegrastatsSampler, find_tegrastats

    if not find_tegrastats():
        return _skip("tegrastats not found (not a Jetson, or nvidia-l4t-tools missing)"), []
    sampler = TegrastatsSampler(interval_ms=100)
    sampler.start()
    try:
        time.sleep(seconds)
    finally:
        sampler.stop()
    samples = sampler.snapshot()
    if not samples:
        return ("failed", "tegrastats ran {:.0f} s but printed no sample line".format(seconds), {}), []
    last = samples[-1]
    return ("ok", "", {"samples": len(samples), "executable": sampler.executable,
                       "gpu_load_pct": last.gpu_load_pct, "gpu_freq_mhz": last.gpu_freq_mhz,
                       "ram_used_mb": last.ram_used_mb, "temps_c": last.temps_c}), samples


def check_power(samples):
    from espnet_edge.profiler.tegrastats import gpu_power_rail, total_power_rails

    if samples is None:
        return _skip("no tegrastats samples")
    names = sorted(set(name for sample in samples for name in sample.rails_mw))
    if not names:
        return _skip("tegrastats reports no power rails on this board")
    total, how = total_power_rails(names)
    last = samples[-1].rails_mw
    return "ok", "", {"rails": names, "total_from": total, "total_rule": how, "gpu_rail": gpu_power_rail(names),
                      "last_mw": last}


def run_selftest(workdir=None, cuda_backend=None):
    """All steps; returns the report dict."""
    own = workdir is None
    workdir = workdir or tempfile.mkdtemp(prefix="espnet-edge-selftest-")
    steps = [_step("tensorrt", check_tensorrt, workdir, cuda_backend),
             _step("gpu_clock", check_gpu_clock), _step("clock_pin", check_clock_pin)]
    holder = {}

    def tegrastats_step():
        result, samples = check_tegrastats()
        holder["samples"] = samples if result[0] == "ok" else None
        return result

    steps.append(_step("tegrastats", tegrastats_step))
    steps.append(_step("power", check_power, holder.get("samples")))
    if own:
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)
    from espnet_edge import __version__

    return {"espnet_edge": __version__, "python": platform.python_version(), "machine": platform.machine(),
            "platform": platform.platform(), "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "steps": steps, "ok": [s["step"] for s in steps if s["status"] == "ok"],
            "failed": [s["step"] for s in steps if s["status"] == "failed"],
            "skipped": {s["step"]: s["reason"] for s in steps if s["status"] == "skipped"}}


def summary_lines(report):
    lines = []
    for step in report["steps"]:
        mark = {"ok": "ok  ", "failed": "FAIL", "skipped": "skip"}[step["status"]]
        lines.append("  {}  {:<10} {}".format(mark, step["step"], step["reason"]))
    return lines


def write_report(path, report):
    from espnet_edge.utils.atomic import write_json

    write_json(path, report)
    return path
