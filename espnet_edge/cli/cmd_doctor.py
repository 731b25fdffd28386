"""espnet-edge doctor: what this machine offers, and what each missing piece disables."""

import importlib
import json
import logging
import os
import platform
import sys

from espnet_edge import __version__
from espnet_edge.cli.args import add_output_args
from espnet_edge.errors import UserError
from espnet_edge.profiler.samplers import find_tegrastats

log = logging.getLogger(__name__)


def add_parser(subparsers):
    parser = subparsers.add_parser("doctor",
                                   description="Report Python, torch, ONNX Runtime, TensorRT, CUDA, the "
                                   "Jetson board and its tools, and what each missing piece disables.")
    parser.add_argument("--selftest", action="store_true", help="for the first run on a board: build and run a "
                        "tiny TensorRT engine through every I/O path (with and without CUDA graph) against numpy, "
                        "read the GPU clock, dry-run a pin and restore, read 2 s of tegrastats and the power "
                        "rails; writes one JSON report (what it could not do is listed with the reason)")
    add_output_args(parser, out="--selftest report path (default %(default)s)", out_metavar="FILE",
                    out_default="espnet-edge-selftest.json", json="print")
    parser.set_defaults(func=run)


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
        from espnet_edge.jetson import detect
    except ImportError:
        return None
    try:
        info = detect.detect()
    except Exception as exc:  # doctor reports, it never fails on a strange board
        return {"error": str(exc)}
    return info.to_dict() if info.is_jetson else None


def collect():
    checks = []

    def add(name, value, disables):
        checks.append({"name": name, "value": value, "ok": bool(value), "disables": disables})

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


def _fmt(value):
    if isinstance(value, dict):
        return ", ".join("{}={}".format(k, v) for k, v in value.items() if v not in (None, "", [], {}))
    return str(value)


def run_selftest(args):
    from espnet_edge.apps import selftest
    from espnet_edge.utils.atomic import ensure_writable_dir

    out = os.path.abspath(args.out)
    if os.path.isdir(out):
        raise UserError("--out {} is a folder: give a file name for the JSON report".format(args.out))
    ensure_writable_dir(os.path.dirname(out))
    log.info("self-test (a minute or two with TensorRT)")
    report = selftest.run_selftest()
    report["doctor"] = collect()
    selftest.write_report(out, report)
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    else:
        for line in selftest.summary_lines(report):
            print(line)
        print("report: {}".format(out))
    return 1 if report["failed"] else 0


def run(args):
    if args.selftest:
        return run_selftest(args)
    checks = collect()
    if args.json:
        print(json.dumps(checks, indent=2, default=str))
        return 0
    width = max(len(c["name"]) for c in checks)
    for check in checks:
        if check["ok"]:
            print("  ok    {}  {}".format(check["name"].ljust(width), _fmt(check["value"])))
        else:
            print("  --    {}  missing: disables {}".format(check["name"].ljust(width), check["disables"]))
    return 0
