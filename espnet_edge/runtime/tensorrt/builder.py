"""Build a TensorRT engine from an espnet-edge ONNX file: FP32, FP16 or INT8 (calibrated or QDQ).

    from espnet_edge.runtime.tensorrt.builder import available, build_engine
    ok, why = available()          # TensorRT importable and a CUDA device present?
    engine_path = build_engine("export/espnet_p2_q8-1024x512.onnx", fp16=True)

Writes ``<engine>`` and ``<engine>.json`` (see sidecar.py) atomically and reuses an existing engine
whose sidecar carries the same cache key. API differences between TensorRT versions are chosen by
``compat.api_plan``.
"""

import logging
import os
import re
import time

from espnet_edge import defaults
from espnet_edge.errors import MissingDependency, UserError
from espnet_edge.runtime.tensorrt import compat, sidecar
from espnet_edge.runtime.tensorrt.shapes import fill_profile, format_dims, is_dynamic, parse_shapes

log = logging.getLogger(__name__)

TENSORRT_HINT = ("TensorRT is not installed for this Python: on a Jetson it comes with JetPack "
                 "(sudo apt install python3-libnvinfer; JetPack 4.6 gives TensorRT 8.2 for Python 3.6), "
                 "on a PC `pip install tensorrt`; or run inside the espnet-edge image built from "
                 "Dockerfile.jetson (see docs/tensorrt.md)")
_VARIANT_RE = re.compile(r"-(fp16|int8)$")


def require_tensorrt():
    try:
        import tensorrt
    except ImportError as exc:
        raise MissingDependency("{} ({})".format(TENSORRT_HINT, exc))
    return tensorrt


def unavailable_reason():
    """None when TensorRT is importable and a CUDA device is present, else a one-line reason."""
    try:
        trt = require_tensorrt()
        compat.api_plan(trt.__version__)
        from espnet_edge.runtime.tensorrt.cuda import open_cuda

        backend = open_cuda()
        backend.close()
    except UserError as exc:
        return str(exc)
    except Exception as exc:  # noqa: BLE001 - a broken install (missing libnvinfer, driver) is a reason too
        return "TensorRT/CUDA not usable here: {}".format(str(exc).splitlines()[0] if str(exc) else
                                                           type(exc).__name__)
    return None


def available():
    """(True, '') or (False, reason): can this machine build and run TensorRT engines?"""
    reason = unavailable_reason()
    return reason is None, reason or ""


def base_stem(onnx_path):
    """'export/espnet-1024x512-fp16.onnx' -> 'export/espnet-1024x512' (the variant suffix dropped)."""
    stem = os.path.splitext(onnx_path)[0]
    return _VARIANT_RE.sub("", stem)


def variant_path(onnx_path, variant):
    """The exported -fp16.onnx / -int8.onnx (QDQ) file beside ``onnx_path``."""
    if not variant:
        return onnx_path
    if os.path.splitext(onnx_path)[0].endswith("-" + variant):
        return onnx_path
    return base_stem(onnx_path) + "-{}.onnx".format(variant)


def report_path(engine_path):
    return engine_path + ".report.json"


def default_engine_path(onnx_path, precision):
    return "{}-{}.engine".format(base_stem(onnx_path), precision)


def check_request(onnx_path, int8=False, calib=None, calib_cache=None, shapes=None, workspace=None, dla=None):
    """Everything about a build request that can be checked without TensorRT; returns parsed shapes."""
    if not os.path.isfile(onnx_path):
        raise UserError("ONNX file {} does not exist: export it with `espnet-edge export --model NAME`".format(
            onnx_path))
    if calib and not int8:
        raise UserError("--calib/--calib-cache only make sense with --int8")
    if calib_cache and not int8:
        raise UserError("--calib-cache only makes sense with --int8")
    if int8:
        if calib:
            from espnet_edge.runtime.tensorrt.calibrator import calibration_files

            calibration_files(calib)
        elif calib_cache:
            if not os.path.isfile(calib_cache):
                raise UserError("calibration cache {} does not exist: calibrate with --calib DIR first".format(
                    calib_cache))
        elif not os.path.isfile(variant_path(onnx_path, "int8")):
            raise UserError("INT8 needs calibration data: pass --calib DIR (real images like the ones the "
                            "model will see) or --calib-cache FILE, or export the QDQ model {} with "
                            "`espnet-edge export --int8`".format(variant_path(onnx_path, "int8")))
    if workspace is not None and workspace <= 0:
        raise UserError("--workspace must be a positive number of MiB")
    if dla is not None and dla < 0:
        raise UserError("--dla takes a DLA core number (0 or 1)")
    return parse_shapes(shapes)


def _flags(trt, names):
    value = 0
    for name in names:
        value |= 1 << int(getattr(trt.NetworkDefinitionCreationFlag, name))
    return value


def _parse(trt, network, logger, path, plan):
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(path):
        errors = [str(parser.get_error(i)).replace("\n", " ") for i in range(parser.num_errors)]
        raise UserError("TensorRT {} cannot parse {}: {}; check the operators with `espnet-edge check-onnx "
                        "{}`".format(plan.version, path, "; ".join(errors) or "unknown error", path))
    return parser


def _set_workspace(trt, config, plan, workspace_mb):
    """Builder workspace limit in MiB, the byte count as an int (both APIs take integers)."""
    nbytes = int(workspace_mb) << 20
    if plan.workspace_call == "set_memory_pool_limit":
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, nbytes)
    else:
        config.max_workspace_size = nbytes


def _network_inputs(network):
    return [(network.get_input(i).name, tuple(network.get_input(i).shape)) for i in range(network.num_inputs)]


def _keep_frame_layers_fp32(trt, plan, network, config, decision, dla, frame_graph):
    """A frame graph's own layers (preprocessing, overlay) stay float32 (frame_precision.py)."""
    from espnet_edge.runtime.tensorrt import frame_precision

    if not frame_graph:
        return
    pins = frame_precision.frame_plan(compat.parse_version(plan.version), decision.flags,
                                      decision.network_flags, frame_precision.layer_records(trt, network))
    frame_precision.apply_frame_plan(trt, network, config, pins, dla=dla is not None)
    for note in pins["notes"]:
        log.info(note)
    decision.notes.extend(pins["notes"])


def build_engine(onnx_path, fp16=False, int8=False, calib=None, calib_cache=None, allow_fallback=False,
                 workspace=None, dla=None, timing_cache=None, shapes=None, out=None, reuse=True, info=None,
                 max_calib_images=defaults.CALIB_IMAGES, progress=True, cuda=None, report=False):
    """Build (or reuse) the engine for ``onnx_path``; returns the engine path.

    ``workspace`` in MiB; ``dla`` a DLA core; ``shapes`` a --shapes spec (see shapes.py); ``info`` a
    ModelInfo for ONNX files without espnet-edge metadata; ``report`` also writes the engine
    inspector's layer table as ``<engine>.report.json`` (see report.py).
    """
    given_shapes = check_request(onnx_path, int8, calib, calib_cache, shapes, workspace, dla)
    from espnet_edge.runtime.tensorrt import onnxmeta
    from espnet_edge.runtime.tensorrt.cuda import open_cuda

    info = info or onnxmeta.model_info(onnx_path)
    trt = require_tensorrt()
    version = trt.__version__
    plan = compat.api_plan(version)
    own_cuda = cuda is None
    cuda = cuda or open_cuda()
    try:
        return _build(trt, plan, cuda, onnx_path, info, given_shapes, fp16, int8, calib, calib_cache,
                      allow_fallback, workspace, dla, timing_cache, out, reuse, max_calib_images, progress,
                      report)
    finally:
        if own_cuda:
            cuda.close()


def _build(trt, plan, cuda, onnx_path, info, given_shapes, fp16, int8, calib, calib_cache, allow_fallback,
           workspace, dla, timing_cache, out, reuse, max_calib_images, progress, report=False):
    from espnet_edge.runtime.tensorrt import calibrator as calib_mod
    from espnet_edge.utils.atomic import write_bytes
    from espnet_edge.utils.digest import sha256_of

    version = plan.version
    gpu_name, capability = cuda.device_name(), cuda.compute_capability()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    fast_fp16 = bool(builder.platform_has_fast_fp16) if plan.platform_caps else True
    fast_int8 = bool(builder.platform_has_fast_int8) if plan.platform_caps else True
    qdq_path = variant_path(onnx_path, "int8")
    decision = compat.precision_plan(version, fp16=fp16, int8=int8, fast_fp16=fast_fp16, fast_int8=fast_int8,
                                     allow_fallback=allow_fallback, calibration=bool(calib or calib_cache),
                                     qdq_model=os.path.isfile(qdq_path),
                                     fp16_model=os.path.isfile(variant_path(onnx_path, "fp16")))
    for note in decision.notes:
        log.info(note)
    precision = decision.precision
    source = variant_path(onnx_path, decision.onnx_variant)
    if not os.path.isfile(source):
        raise UserError("{} does not exist: export it with `espnet-edge export --{}`".format(
            source, decision.onnx_variant))
    if dla is not None and precision == "fp32":
        raise UserError("DLA runs FP16 or INT8 only: add --fp16 (or --int8) to --dla")

    onnx_sha = sha256_of(source)
    options = {"requested": "int8" if int8 else ("fp16" if fp16 else "fp32"),
               "workspace_mb": workspace, "dla": dla, "onnx_variant": decision.onnx_variant,
               "calib": os.path.abspath(calib) if calib else None,
               "calib_cache": os.path.abspath(calib_cache) if calib_cache else None,
               "allow_fallback": bool(allow_fallback)}
    if info.frame_size:  # engines built before the frame graph's layers were pinned are rebuilt
        options["frame_layers"] = "float32"
    key = sidecar.cache_key(onnx_sha, precision, given_shapes, version, gpu_name, capability, options)
    out = out or default_engine_path(onnx_path, precision)
    if reuse:
        action, why = sidecar.cache_decision(out, key)
        if action == "reuse" and (not report or os.path.isfile(report_path(out))):
            log.info("reusing " + why)
            return out
        if os.path.exists(out):
            log.info("rebuilding: " + why)

    network = builder.create_network(_flags(trt, decision.network_flags))
    parser = _parse(trt, network, logger, source, plan)  # noqa: F841 - the parser owns layer storage
    config = builder.create_builder_config()
    if workspace:
        _set_workspace(trt, config, plan, workspace)
    if report:
        # layer names, tactics and formats in the engine, for the inspector (8.2+)
        config.profiling_verbosity = trt.ProfilingVerbosity.DETAILED
    for flag in decision.flags:
        config.set_flag(getattr(trt.BuilderFlag, flag))

    inputs = _network_inputs(network)
    unknown = sorted(set(given_shapes) - set(name for name, _ in inputs))
    if unknown:
        raise UserError("--shapes names {} but the network inputs are {}".format(
            ", ".join(unknown), ", ".join(name for name, _ in inputs)))
    profile_shapes = {name: fill_profile(name, shape, given_shapes) for name, shape in inputs}
    profile = None
    if any(is_dynamic(shape) for _, shape in inputs):
        profile = builder.create_optimization_profile()
        for name, (low, opt, high) in profile_shapes.items():
            profile.set_shape(name, low, opt, high)
        config.add_optimization_profile(profile)

    calibrator = None
    if decision.calibrate:
        cache_file = calib_cache or calib_mod.cache_path_for(base_stem(onnx_path) + "-int8", version)
        cache_data = calib_mod.read_cache(cache_file, version)
        files = calib_mod.calibration_files(calib, max_calib_images) if calib else []
        if not files and not cache_data:
            raise UserError("calibration cache {} is empty: calibrate with --calib DIR".format(cache_file))
        batch = profile_shapes[inputs[0][0]][1][0]
        if files and len(files) < batch:
            raise UserError("--calib {} holds {} images, fewer than the batch {}".format(calib, len(files), batch))
        calibrator = calib_mod.make_calibrator(info, batch, files, cache_file, version, cuda,
                                               cache_data=None if files else cache_data, progress=progress)
        config.int8_calibrator = calibrator
        if profile is not None:
            config.set_calibration_profile(profile)

    if dla is not None:
        cores = int(getattr(builder, "num_DLA_cores", 0))
        if dla >= cores:
            raise UserError("--dla {} but this device has {} DLA core(s) (Xavier and Orin have 2, the "
                            "TX2 none)".format(dla, cores))
        config.default_device_type = trt.DeviceType.DLA
        config.DLA_core = int(dla)
        config.set_flag(trt.BuilderFlag.GPU_FALLBACK)

    _keep_frame_layers_fp32(trt, plan, network, config, decision, dla, bool(info.frame_size))

    cache_obj = None
    if timing_cache and plan.timing_cache:
        data = open(timing_cache, "rb").read() if os.path.isfile(timing_cache) else b""
        cache_obj = config.create_timing_cache(data)
        config.set_timing_cache(cache_obj, False)

    log.info("building {} {} engine with TensorRT {} on {} (sm_{}) - minutes on a "
         "Jetson".format(os.path.basename(source), precision.upper(), version, gpu_name,
                         capability.replace(".", "")))
    started = time.time()
    try:
        if plan.build_call == "build_serialized_network":
            serialized = builder.build_serialized_network(network, config)
        else:
            engine = builder.build_engine(network, config)
            serialized = engine.serialize() if engine is not None else None
    finally:
        if calibrator is not None:
            calibrator.close()
    if calibrator is not None:
        calibrator.raise_stored()  # a callback failed inside TensorRT: that, not TensorRT's message
    if serialized is None:
        raise UserError("TensorRT could not build the engine for {} (its log above says why); try a larger "
                        "--workspace, or {}".format(source, "drop --dla" if dla is not None else
                                                    "check the model with `espnet-edge check-onnx`"))
    seconds = time.time() - started
    data = bytes(serialized)
    write_bytes(out, data)
    if cache_obj is not None:
        write_bytes(timing_cache, bytes(config.get_timing_cache().serialize()))
    info_dict = info.to_dict()
    info_dict["precision"] = precision
    meta = sidecar.make_sidecar(out, data, source, onnx_sha, precision, given_shapes, version, gpu_name, capability,
                                sidecar.jetson_release(), seconds, options, info_dict, decision.notes)
    meta["profile_shapes"] = {k: [list(s) for s in v] for k, v in profile_shapes.items()}
    meta["api"] = {k: getattr(plan, k) for k in ("build_call", "workspace_call", "io_api", "execute_call")}
    sidecar.write_sidecar(out, meta)
    if report:
        from espnet_edge.runtime.tensorrt import report as report_mod

        layers = report_mod.inspect_serialized(trt, logger, data)
        report_mod.write_report(report_path(out), report_mod.make_report(layers, meta, dla=dla))
    log.info("wrote {} ({:.1f} MB, {:.0f} s; inputs {})".format(
        out, len(data) / 1e6, seconds, ", ".join("{} {}".format(k, format_dims(v[1]))
                                                 for k, v in profile_shapes.items())))
    return out
