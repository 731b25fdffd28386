"""Build a TensorRT engine from an espnet-edge ONNX file: FP32, FP16 or INT8 (calibrated or QDQ).

    from espnet_edge.runtime.tensorrt.builder import available, build_engine
    ok, why = available()          # TensorRT importable and a CUDA device present?
    engine_path = build_engine("export/espnet_p2_q8-1024x512.onnx", BuildOptions(fp16=True))

What to build is one BuildOptions record (build_options.py). Writes ``<engine>`` and ``<engine>.json``
(see sidecar.py) atomically and reuses an existing engine whose sidecar carries the same cache key. API
differences between TensorRT versions are chosen by ``compat.api_plan``. ``build_engine`` runs the steps
of an ``EngineBuild`` in order: decide the precision and the file to parse, reuse a cached engine, define
the network and its config, add the optimisation profile, the calibrator, DLA and the frame graph's
float32 layers, build, write.
"""

import logging
import os
import re
import time

from espnet_edge.errors import MissingDependency, UserError
from espnet_edge.runtime.tensorrt import calibrator as calib_mod
from espnet_edge.runtime.tensorrt import compat, frame_precision, onnxmeta, sidecar
from espnet_edge.runtime.tensorrt import report as report_mod
from espnet_edge.runtime.tensorrt.build_options import BuildOptions
from espnet_edge.runtime.tensorrt.cuda import open_cuda
from espnet_edge.runtime.tensorrt.shapes import fill_profile, format_dims, is_dynamic, parse_shapes
from espnet_edge.utils.atomic import write_bytes
from espnet_edge.utils.digest import sha256_of

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


def check_request(onnx_path, options):
    """Everything about a build request (BuildOptions) that can be checked without TensorRT; returns the
    parsed --shapes."""
    if not os.path.isfile(onnx_path):
        raise UserError("ONNX file {} does not exist: export it with `espnet-edge export --model NAME`".format(
            onnx_path))
    if options.calib and not options.int8:
        raise UserError("--calib/--calib-cache only make sense with --int8")
    if options.calib_cache and not options.int8:
        raise UserError("--calib-cache only makes sense with --int8")
    if options.int8:
        if options.calib:
            calib_mod.calibration_files(options.calib)
        elif options.calib_cache:
            if not os.path.isfile(options.calib_cache):
                raise UserError("calibration cache {} does not exist: calibrate with --calib DIR first".format(
                    options.calib_cache))
        elif not os.path.isfile(variant_path(onnx_path, "int8")):
            raise UserError("INT8 needs calibration data: pass --calib DIR (real images like the ones the "
                            "model will see) or --calib-cache FILE, or export the QDQ model {} with "
                            "`espnet-edge export --int8`".format(variant_path(onnx_path, "int8")))
    if options.workspace is not None and options.workspace <= 0:
        raise UserError("--workspace must be a positive number of MiB")
    if options.dla is not None and options.dla < 0:
        raise UserError("--dla takes a DLA core number (0 or 1)")
    return parse_shapes(options.shapes)


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
    if not frame_graph:
        return
    pins = frame_precision.frame_plan(compat.parse_version(plan.version), decision.flags,
                                      decision.network_flags, frame_precision.layer_records(trt, network))
    frame_precision.apply_frame_plan(trt, network, config, pins, dla=dla is not None)
    for note in pins["notes"]:
        log.info(note)
    decision.notes.extend(pins["notes"])


def build_engine(onnx_path, options=None, out=None, reuse=True, info=None, cuda=None, progress=True, **fields):
    """Build (or reuse) the engine for ``onnx_path`` as ``options`` (a BuildOptions; its fields may also be
    given as keywords, which replace the record's); returns the engine path.

    ``out``: the engine path (default ``<model>-<precision>.engine`` beside the ONNX); ``reuse=False``
    rebuilds even when a matching engine exists; ``info``: a ModelInfo for ONNX files without espnet-edge
    metadata; ``cuda``: an open CUDA backend to use (else one is opened and closed here).
    """
    options = BuildOptions.make(options, **fields)
    given_shapes = check_request(onnx_path, options)
    info = info or onnxmeta.model_info(onnx_path)
    trt = require_tensorrt()
    plan = compat.api_plan(trt.__version__)
    own_cuda = cuda is None
    cuda = cuda or open_cuda()
    try:
        build = EngineBuild(trt, plan, cuda, onnx_path, info, options, given_shapes)
        out = out or default_engine_path(onnx_path, build.precision)
        if reuse and build.reusable(out):
            return out
        build.define_network()
        build.add_profile()
        build.add_calibrator(progress)
        build.place_on_dla()
        _keep_frame_layers_fp32(trt, plan, build.network, build.config, build.decision, options.dla,
                                bool(info.frame_size))
        data, seconds = build.serialize()
        build.write(out, data, seconds)
        return out
    finally:
        if own_cuda:
            cuda.close()


class EngineBuild(object):
    """One engine build: the steps of build_engine in order, sharing what they decided. Deciding (on
    construction): the precision the GPU and TensorRT version allow (compat.precision_plan), the exported
    file to parse and what the engine is built from (``inputs``, a sidecar.BuildInputs: the cache key)."""

    def __init__(self, trt, plan, cuda, onnx_path, info, options, given_shapes):
        self.trt, self.plan, self.cuda, self.info, self.options = trt, plan, cuda, info, options
        self.onnx_path = onnx_path
        self.logger = trt.Logger(trt.Logger.WARNING)
        self.builder = trt.Builder(self.logger)
        self.network = self.config = self.profile = self.calibrator = self.timing_cache = None
        self.decision = self._decide()
        self.precision = self.decision.precision
        self.source = variant_path(onnx_path, self.decision.onnx_variant)
        if not os.path.isfile(self.source):
            raise UserError("{} does not exist: export it with `espnet-edge export --{}`".format(
                self.source, self.decision.onnx_variant))
        if options.dla is not None and self.precision == "fp32":
            raise UserError("DLA runs FP16 or INT8 only: add --fp16 (or --int8) to --dla")
        self.inputs = sidecar.BuildInputs(
            onnx=self.source, onnx_sha256=sha256_of(self.source), precision=self.precision, shapes=given_shapes,
            tensorrt_version=plan.version, gpu_name=cuda.device_name(),
            compute_capability=cuda.compute_capability(), options=options,
            onnx_variant=self.decision.onnx_variant, frame_graph=bool(info.frame_size))

    def _decide(self):
        options, plan = self.options, self.plan
        fast_fp16 = bool(self.builder.platform_has_fast_fp16) if plan.platform_caps else True
        fast_int8 = bool(self.builder.platform_has_fast_int8) if plan.platform_caps else True
        decision = compat.precision_plan(
            plan.version, fp16=options.fp16, int8=options.int8, fast_fp16=fast_fp16, fast_int8=fast_int8,
            allow_fallback=options.allow_fallback, calibration=bool(options.calib or options.calib_cache),
            qdq_model=os.path.isfile(variant_path(self.onnx_path, "int8")),
            fp16_model=os.path.isfile(variant_path(self.onnx_path, "fp16")))
        for note in decision.notes:
            log.info(note)
        return decision

    def reusable(self, out):
        """True when ``out`` is an intact engine of the same key (and the asked-for report exists)."""
        action, why = sidecar.cache_decision(out, self.inputs.key())
        if action == "reuse" and (not self.options.report or os.path.isfile(report_path(out))):
            log.info("reusing " + why)
            return True
        if os.path.exists(out):
            log.info("rebuilding: " + why)
        return False

    def define_network(self):
        """The parsed network and its builder config: workspace, inspector detail, precision flags."""
        trt, plan = self.trt, self.plan
        self.network = self.builder.create_network(_flags(trt, self.decision.network_flags))
        self.parser = _parse(trt, self.network, self.logger, self.source, plan)  # owns the layers' storage
        self.config = self.builder.create_builder_config()
        if self.options.workspace:
            _set_workspace(trt, self.config, plan, self.options.workspace)
        if self.options.report:
            # layer names, tactics and formats in the engine, for the inspector (8.2+)
            self.config.profiling_verbosity = trt.ProfilingVerbosity.DETAILED
        for flag in self.decision.flags:
            self.config.set_flag(getattr(trt.BuilderFlag, flag))

    def add_profile(self):
        """--shapes checked against the network's inputs; an optimisation profile for dynamic ones."""
        inputs = _network_inputs(self.network)
        given = self.inputs.shapes
        unknown = sorted(set(given) - set(name for name, _ in inputs))
        if unknown:
            raise UserError("--shapes names {} but the network inputs are {}".format(
                ", ".join(unknown), ", ".join(name for name, _ in inputs)))
        self.input_names = [name for name, _ in inputs]
        self.profile_shapes = dict((name, fill_profile(name, shape, given)) for name, shape in inputs)
        if any(is_dynamic(shape) for _, shape in inputs):
            self.profile = self.builder.create_optimization_profile()
            for name, (low, opt, high) in self.profile_shapes.items():
                self.profile.set_shape(name, low, opt, high)
            self.config.add_optimization_profile(self.profile)

    def add_calibrator(self, progress):
        """Implicit INT8: the entropy calibrator on --calib images or a calibration cache."""
        if not self.decision.calibrate:
            return
        options, version = self.options, self.plan.version
        cache_file = options.calib_cache or calib_mod.cache_path_for(base_stem(self.onnx_path) + "-int8", version)
        cache_data = calib_mod.read_cache(cache_file, version)
        files = calib_mod.calibration_files(options.calib, options.calib_images) if options.calib else []
        if not files and not cache_data:
            raise UserError("calibration cache {} is empty: calibrate with --calib DIR".format(cache_file))
        batch = self.profile_shapes[self.input_names[0]][1][0]
        if files and len(files) < batch:
            raise UserError("--calib {} holds {} images, fewer than the batch {}".format(
                options.calib, len(files), batch))
        self.calibrator = calib_mod.make_calibrator(self.info, batch, files, cache_file, version, self.cuda,
                                                    cache_data=None if files else cache_data, progress=progress)
        self.config.int8_calibrator = self.calibrator
        if self.profile is not None:
            self.config.set_calibration_profile(self.profile)

    def place_on_dla(self):
        dla = self.options.dla
        if dla is None:
            return
        cores = int(getattr(self.builder, "num_DLA_cores", 0))
        if dla >= cores:
            raise UserError("--dla {} but this device has {} DLA core(s) (Xavier and Orin have 2, the "
                            "TX2 none)".format(dla, cores))
        self.config.default_device_type = self.trt.DeviceType.DLA
        self.config.DLA_core = int(dla)
        self.config.set_flag(self.trt.BuilderFlag.GPU_FALLBACK)

    def serialize(self):
        """TensorRT builds (with the timing cache where asked): -> (engine bytes, seconds)."""
        timing_cache, plan = self.options.timing_cache, self.plan
        if timing_cache and plan.timing_cache:
            data = open(timing_cache, "rb").read() if os.path.isfile(timing_cache) else b""
            self.timing_cache = self.config.create_timing_cache(data)
            self.config.set_timing_cache(self.timing_cache, False)
        log.info("building {} {} engine with TensorRT {} on {} (sm_{}) - minutes on a Jetson".format(
            os.path.basename(self.source), self.precision.upper(), plan.version, self.inputs.gpu_name,
            str(self.inputs.compute_capability).replace(".", "")))
        started = time.time()
        try:
            if plan.build_call == "build_serialized_network":
                serialized = self.builder.build_serialized_network(self.network, self.config)
            else:
                engine = self.builder.build_engine(self.network, self.config)
                serialized = engine.serialize() if engine is not None else None
        finally:
            if self.calibrator is not None:
                self.calibrator.close()
        if self.calibrator is not None:
            self.calibrator.raise_stored()  # a callback failed inside TensorRT: that, not TensorRT's message
        if serialized is None:
            raise UserError("TensorRT could not build the engine for {} (its log above says why); try a larger "
                            "--workspace, or {}".format(self.source, "drop --dla" if self.options.dla is not None
                                                        else "check the model with `espnet-edge check-onnx`"))
        return bytes(serialized), time.time() - started

    def write(self, out, data, seconds):
        """The engine, the updated timing cache, the sidecar and (asked for) the layer report."""
        write_bytes(out, data)
        if self.timing_cache is not None:
            write_bytes(self.options.timing_cache, bytes(self.config.get_timing_cache().serialize()))
        info_dict = self.info.to_dict()
        info_dict["precision"] = self.precision
        meta = sidecar.make_sidecar(out, data, self.inputs, seconds, info_dict, self.decision.notes,
                                    jetson=sidecar.jetson_release())
        meta["profile_shapes"] = dict((k, [list(s) for s in v]) for k, v in self.profile_shapes.items())
        meta["api"] = dict((k, getattr(self.plan, k)) for k in ("build_call", "workspace_call", "io_api",
                                                                "execute_call"))
        sidecar.write_sidecar(out, meta)
        if self.options.report:
            layers = report_mod.inspect_serialized(self.trt, self.logger, data)
            report_mod.write_report(report_path(out), report_mod.make_report(layers, meta, dla=self.options.dla))
        log.info("wrote {} ({:.1f} MB, {:.0f} s; inputs {})".format(
            out, len(data) / 1e6, seconds, ", ".join("{} {}".format(k, format_dims(v[1]))
                                                     for k, v in self.profile_shapes.items())))
