"""Which TensorRT calls to make, as a pure function of the TensorRT version number.

Every choice is made from parsed version numbers (tuples), never from string comparison, so that
"10.3" sorts after "8.6" and "8.10" after "8.9". ``api_plan`` returns an ApiPlan (a typed record) the
builder and runner follow; the tests check it for each TensorRT generation without TensorRT installed.
"""

import re
from typing import List, NamedTuple, Optional

from espnet_edge.errors import UserError

# Oldest TensorRT we write calls for (JetPack 4.4 shipped 7.1); 8.2 is what a TX2 gets (JetPack 4.6).
OLDEST_SUPPORTED = (7, 1)
_VERSION_RE = re.compile(r"^\s*(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:\.(\d+))?(?:[.+\-_]?[A-Za-z][A-Za-z0-9.+\-_]*)?\s*$")


def parse_version(text):
    """'8.2.1.8' -> (8, 2, 1, 8); '10.3.0' -> (10, 3, 0, 0); '8.6.1.post1' -> (8, 6, 1, 0).

    Raises UserError for anything that does not start with a numeric major version.
    """
    if isinstance(text, (tuple, list)):
        parts = [int(p) for p in text][:4]
        if not parts:
            raise UserError("empty TensorRT version")
        return tuple(parts + [0] * (4 - len(parts)))
    match = _VERSION_RE.match(str(text)) if text is not None else None
    if not match:
        raise UserError("cannot read the TensorRT version {!r}: expected numbers like 8.2.1.8".format(text))
    return tuple(int(g) if g is not None else 0 for g in match.groups())


def format_version(version):
    """(8, 2, 1, 8) -> '8.2.1.8'; trailing build 0 kept off: (10, 3, 0, 0) -> '10.3.0'."""
    version = parse_version(version)
    parts = list(version[:3]) + ([version[3]] if version[3] else [])
    return ".".join(str(p) for p in parts)


def short_version(version):
    """Major.minor.patch: the part that decides engine/calibration-cache compatibility here."""
    return ".".join(str(p) for p in parse_version(version)[:3])


class ApiPlan(NamedTuple("ApiPlan", [
        ("version", str), ("network_flags", List[str]), ("build_call", str), ("workspace_call", str),
        ("precision_flags", bool), ("strongly_typed", bool), ("int8_calibration", bool),
        ("platform_caps", bool), ("typed_preferred", bool), ("calibrator_deprecated", bool),
        ("io_api", str), ("execute_call", str), ("set_input_shape", str), ("timing_cache", bool)])):
    """The TensorRT API calls to use for one version (``api_plan``); fields documented there."""
    __slots__ = ()

    @property
    def named_tensors(self):
        """The named-tensor I/O path (num_io_tensors, set_tensor_address, execute_async_v3)."""
        return self.io_api == "tensors"


def api_plan(version):
    """The TensorRT API calls to use for ``version`` (string or tuple), as an ApiPlan.

    Fields:
      version              'major.minor.patch[.build]'
      network_flags        NetworkDefinitionCreationFlag names to OR together for create_network
      build_call           'build_serialized_network' (>= 8.0) or 'build_engine' (then serialize)
      workspace_call       'set_memory_pool_limit' (>= 8.4) or 'max_workspace_size'
      precision_flags      BuilderFlag.FP16/INT8 exist and mean "allowed" (weak typing) (< 11)
      strongly_typed       precision comes from the ONNX tensor types (>= 11): use -fp16/-int8 files
      int8_calibration     implicit INT8 with an IInt8EntropyCalibrator2 is available (< 11)
      platform_caps        builder.platform_has_fast_fp16/int8 can be asked (< 11)
      io_api               'bindings' (get_binding_*, execute_async_v2) or 'tensors'
                           (num_io_tensors/get_tensor_*, set_tensor_address, execute_async_v3) (>= 8.5)
      execute_call         'execute_async_v2' or 'execute_async_v3'
      set_input_shape      'set_binding_shape' or 'set_input_shape'
      timing_cache         ITimingCache via config.create_timing_cache (>= 8.0)
      typed_preferred      BuilderFlag.FP16/INT8 are deprecated (10.12, "superseded by strong typing"):
                           build the exported -fp16/-int8 ONNX strongly typed where it exists
      calibrator_deprecated  the IInt8 calibrator API is deprecated (10.1); QDQ is the way
    Sources: the [DEPRECATED] notes in NVIDIA's own bindings (tensorrt-cu11-bindings 10.13.0.35,
    tensorrt-cu12-bindings 11.4.0.106 docstrings: EXPLICIT_BATCH "ignored ... in TensorRT 10.0",
    STRONGLY_TYPED "Deprecated in TensorRT 11.0 ... ignored", BuilderFlag FP16/INT8 "Deprecated in
    TensorRT 10.12"); calibrator 10.1 and platform_has_fast_* 10.5 from the TensorRT 10 release notes
    as quoted in issue 15 (unsourced here).
    """
    version = parse_version(version)
    major_minor = version[:2]
    if major_minor < OLDEST_SUPPORTED:
        raise UserError("TensorRT {} is too old: espnet-edge needs TensorRT >= {}.{} "
                        "(JetPack 4.4 or newer)".format(format_version(version), *OLDEST_SUPPORTED))
    tensors = major_minor >= (8, 5)
    strongly_typed = version[0] >= 11
    return ApiPlan(
        version=format_version(version),
        # EXPLICIT_BATCH is ignored from 10.0 on and absent in 11; STRONGLY_TYPED is ignored in 11
        # (always strongly typed), so both are only passed where they still mean something.
        network_flags=["EXPLICIT_BATCH"] if version[0] < 10 else [],
        build_call="build_serialized_network" if major_minor >= (8, 0) else "build_engine",
        workspace_call="set_memory_pool_limit" if major_minor >= (8, 4) else "max_workspace_size",
        precision_flags=not strongly_typed,
        strongly_typed=strongly_typed,
        int8_calibration=not strongly_typed,
        platform_caps=major_minor < (10, 5),
        typed_preferred=major_minor >= (10, 12) and not strongly_typed,
        calibrator_deprecated=major_minor >= (10, 1),
        io_api="tensors" if tensors else "bindings",
        execute_call="execute_async_v3" if tensors else "execute_async_v2",
        set_input_shape="set_input_shape" if tensors else "set_binding_shape",
        timing_cache=major_minor >= (8, 0),
    )


PRECISIONS = ("fp32", "fp16", "int8")


class PrecisionPlan(NamedTuple("PrecisionPlan", [
        ("precision", str), ("flags", List[str]), ("calibrate", bool), ("onnx_variant", Optional[str]),
        ("network_flags", List[str]), ("notes", List[str])])):
    """How to build the requested precision (``precision_plan``): the precision built, BuilderFlag names,
    whether to calibrate, which exported file to parse (None, 'fp16' or 'int8'), the network creation
    flag names, and notes for the user."""
    __slots__ = ()


def precision_plan(version, fp16=False, int8=False, fast_fp16=True, fast_int8=True, allow_fallback=False,
                   calibration=False, qdq_model=False, fp16_model=False):
    """Decide how to build the requested precision; pure, so the refusal rules are testable.

    ``calibration``: calibration images or a calibration cache were given.
    ``qdq_model``: a QDQ (explicitly quantized) ONNX file is available for INT8.
    ``fp16_model``: the exported -fp16.onnx is available (built strongly typed from 10.12 on).
    Returns a PrecisionPlan.
    Raises UserError when the request cannot be honoured and fallback was not allowed.
    """
    plan = api_plan(version)
    notes = []
    precision = "int8" if int8 else ("fp16" if fp16 else "fp32")
    if precision == "int8" and plan.platform_caps and not fast_int8:
        reason = ("this GPU has no fast INT8 (platform_has_fast_int8 is False; the TX2, sm_62, is one "
                  "of them)")
        if not allow_fallback:
            raise UserError(reason + ": build --fp16 instead, or add --allow-fallback to fall back to FP16")
        notes.append(reason + ": falling back to FP16 (--allow-fallback)")
        precision = "fp16"
    if precision == "fp16" and plan.platform_caps and not fast_fp16:
        reason = "this GPU has no fast FP16 (platform_has_fast_fp16 is False)"
        if not allow_fallback:
            raise UserError(reason + ": build without --fp16, or add --allow-fallback to fall back to FP32")
        notes.append(reason + ": falling back to FP32 (--allow-fallback)")
        precision = "fp32"

    result = PrecisionPlan(precision=precision, flags=[], calibrate=False, onnx_variant=None,
                           network_flags=list(plan.network_flags), notes=notes)
    if plan.strongly_typed:
        # TensorRT >= 11 takes precision from the network's tensor types: build the exported variant.
        if precision != "fp32":
            result = result._replace(onnx_variant=precision)
            notes.append("TensorRT {} has no precision flags: building {} means parsing the exported "
                         "-{}.onnx file".format(plan.version, precision.upper(), precision))
        if precision == "int8" and not qdq_model:
            raise UserError("INT8 on TensorRT {} needs the QDQ model <model>-int8.onnx: export it with "
                            "`espnet-edge export --int8`".format(plan.version))
        return result
    if plan.typed_preferred and precision != "fp32":
        typed = _typed_plan(plan, precision, calibration, qdq_model, fp16_model, result)
        if typed is not None:
            return typed
    if precision == "fp16":
        result = result._replace(flags=["FP16"])
    elif precision == "int8":
        # FP16 too, so layers TensorRT keeps out of INT8 do not drop to FP32.
        result = result._replace(flags=["INT8"] + (["FP16"] if fast_fp16 else []))
        if calibration:
            result = result._replace(calibrate=True)
        elif qdq_model:
            result = result._replace(onnx_variant="int8")
            notes.append("no calibration data given: using the explicitly quantized (QDQ) -int8.onnx")
        else:
            raise UserError("INT8 needs calibration data: pass --calib DIR (real images, a few hundred "
                            "frames like the ones you will run) or --calib-cache FILE, or export the QDQ "
                            "model with `espnet-edge export --int8`")
        if calibration and not plan.int8_calibration:
            raise UserError("TensorRT {} has no implicit INT8 calibration: use the QDQ "
                            "-int8.onnx".format(plan.version))
        if calibration and plan.calibrator_deprecated:
            notes.append("TensorRT {} deprecates the INT8 calibrator API (since 10.1): the QDQ model from "
                         "`espnet-edge export --int8` is the lasting way".format(plan.version))
    return result


def _typed_plan(plan, precision, calibration, qdq_model, fp16_model, result):
    """10.12+: build the exported typed ONNX strongly typed instead of the deprecated BuilderFlags.

    Returns the finished plan, or None to fall back to the flags (with a note saying so).
    """
    notes = result.notes
    if precision == "fp16" and fp16_model:
        variant = "fp16"
    elif precision == "int8" and qdq_model and not calibration:
        variant = "int8"
    else:
        notes.append("TensorRT {} deprecates BuilderFlag.{} (since 10.12, superseded by strong typing): "
                     "export the {} with `espnet-edge export --{}` to build without it".format(
                         plan.version, precision.upper(),
                         "-fp16.onnx" if precision == "fp16" else "QDQ -int8.onnx", precision))
        return None
    notes.append("TensorRT {}: building the exported -{}.onnx strongly typed (BuilderFlag.{} is "
                 "deprecated since 10.12)".format(plan.version, variant, precision.upper()))
    return result._replace(onnx_variant=variant, network_flags=["STRONGLY_TYPED"])
