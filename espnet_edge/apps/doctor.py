"""`espnet-edge doctor`: what this machine offers, and what each missing piece disables; `doctor
--selftest`: the self-test steps (apps/selftest.py) with that list, written as one JSON report."""

import importlib
import logging
import platform
import sys
from typing import Any

from espnet_edge import __version__
from espnet_edge.apps import selftest
from espnet_edge.jetson import detect
from espnet_edge.profiler.samplers import find_tegrastats
from espnet_edge.utils.records import Record, record_fields

log = logging.getLogger(__name__)


class Check(Record, record_fields("Check", [("name", str), ("value", Any), ("ok", bool), ("disables", str)])):
    """One thing doctor looked for: what was found (``value``: a version, a device, a board; None when
    missing), ``ok``, and what its absence disables."""
    __slots__ = ()


def _module_version(name):
    try:
        module = importlib.import_module(name)
    except Exception as exc:  # a broken install is as missing as an absent one
        return None, "{}: {}".format(type(exc).__name__, exc).splitlines()[0]
    return getattr(module, "__version__", "installed"), None


def _onnxruntime_providers():
    try:
        import onnxruntime
        return onnxruntime.get_available_providers()
    except Exception:
        return []


def _cuda_device():
    for probe in (_cuda_device_pycuda, _cuda_device_torch):
        found = probe()
        if found:
            return found
    return None


def _cuda_device_pycuda():
    try:
        import pycuda.driver as cuda
        cuda.init()
        if cuda.Device.count():
            dev = cuda.Device(0)
            return "{} (sm_{}{})".format(dev.name(), *dev.compute_capability())
    except Exception:
        return None
    return None


def _cuda_device_torch():
    try:
        import torch
        if torch.cuda.is_available():
            cap = torch.cuda.get_device_capability(0)
            return "{} (sm_{}{})".format(torch.cuda.get_device_name(0), cap[0], cap[1])
    except Exception:
        return None
    return None


def _jetson():
    try:
        info = detect.detect()
    except Exception as exc:  # doctor reports, it never fails on a strange board
        return {"error": str(exc)}
    return info.to_dict() if info.is_jetson else None


def collect():
    """-> [Check]: Python, espnet-edge, each library, the ONNX Runtime providers, a CUDA GPU, the Jetson
    board, tegrastats."""
    checks = []

    def add(name, value, disables):
        checks.append(Check(name=name, value=value, ok=bool(value), disables=disables))

    add("python", "{} ({})".format(platform.python_version(), sys.executable), "")
    add("espnet-edge", __version__, "")
    for module, label, disables in (
        ("numpy", "numpy", "everything"),
        ("cv2", "opencv", "image reading, segment, demo, eval"),
        ("torch", "torch", "the torch backend and ONNX export (workstation only; not needed on the device)"),
        ("onnx", "onnx", "export, check-onnx, fp16/int8 variants"),
        ("onnxruntime", "onnxruntime", "the onnxruntime backend (the default on machines without TensorRT)"),
        ("tensorrt", "tensorrt", "engine build and the tensorrt backend (install JetPack or use Dockerfile.jetson)"),
        ("pycuda", "pycuda", "the tensorrt backend's CUDA calls (pip install pycuda on the device)"),
        ("matplotlib", "matplotlib", "sweep plots"),
        ("psutil", "psutil", "CPU/memory figures in profile on non-Jetson machines"),
        ("pynvml", "nvidia-ml-py", "GPU power/utilisation in profile on non-Jetson NVIDIA machines"),
        ("jtop", "jetson-stats", "jtop as an alternative power source (tegrastats is used otherwise)"),
    ):
        version, _error = _module_version(module)
        add(label, version, disables)
    providers = _onnxruntime_providers()
    add("onnxruntime providers", ", ".join(providers) if providers else None,
        "GPU execution in onnxruntime" if providers else "the onnxruntime backend")
    add("CUDA GPU", _cuda_device(), "TensorRT engines and GPU inference (CPU backends still work)")
    jetson = _jetson()
    add("Jetson board", jetson, "--freq, clocks, power figures from tegrastats (bench/profile still run)")
    add("tegrastats", find_tegrastats(), "Jetson power/utilisation sampling in profile and sweep")
    return checks


def run_selftest(out):
    """The self-test steps, with the doctor's list under "doctor", written to ``out`` (JSON) -> the report."""
    log.info("self-test (a minute or two with TensorRT)")
    report = selftest.run_selftest()
    report["doctor"] = [check.to_dict() for check in collect()]
    selftest.write_report(out, report)
    return report
