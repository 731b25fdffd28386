"""TensorRT version parsing and the API each generation gets (no TensorRT needed: pure functions)."""

import pytest

from espnet_edge.errors import UserError
from espnet_edge.runtime.tensorrt.compat import (PrecisionPlan, api_plan, format_version, parse_version,
                                                 precision_plan, short_version)


@pytest.mark.parametrize("text, expected", [
    ("8.2.1.8", (8, 2, 1, 8)),      # JetPack 4.6 / TX2
    ("8.6.1", (8, 6, 1, 0)),
    ("10.3.0", (10, 3, 0, 0)),      # JetPack 6
    ("11.0.0.1", (11, 0, 0, 1)),
    ("8.5.2.2", (8, 5, 2, 2)),
    ("10.0.0b6", (10, 0, 0, 0)),    # pre-release wheels
    ("8.6.1.post1", (8, 6, 1, 0)),
    (" 10.7 ", (10, 7, 0, 0)),
    ((8, 4), (8, 4, 0, 0)),
])
def test_parse_version(text, expected):
    assert parse_version(text) == expected


@pytest.mark.parametrize("bad", ["", "abc", "v8.2", "8..2", "eight", None, "8.2-", "-1.0"])
def test_parse_version_rejects_bad_strings(bad):
    with pytest.raises(UserError, match="TensorRT version"):
        parse_version(bad)


def test_versions_compare_as_numbers_not_strings():
    assert parse_version("10.3.0") > parse_version("8.6.1")
    assert parse_version("8.10.0") > parse_version("8.9.0")
    assert "10.3.0" < "8.6.1"  # why strings must not be compared


def test_format_and_short_version():
    assert format_version("8.2.1.8") == "8.2.1.8"
    assert format_version("10.3") == "10.3.0"
    assert short_version("8.2.1.8") == "8.2.1"


def test_plan_tensorrt_8_2_tx2():
    plan = api_plan("8.2.1.8")
    assert plan.network_flags == ["EXPLICIT_BATCH"]
    assert plan.build_call == "build_serialized_network"
    assert plan.workspace_call == "max_workspace_size"
    assert plan.io_api == "bindings" and plan.execute_call == "execute_async_v2"
    assert plan.set_input_shape == "set_binding_shape"
    assert plan.precision_flags and plan.int8_calibration and plan.platform_caps


def test_plan_tensorrt_8_4_gets_memory_pools_but_bindings():
    plan = api_plan("8.4.1.5")
    assert plan.workspace_call == "set_memory_pool_limit"
    assert plan.io_api == "bindings"


@pytest.mark.parametrize("version", ["8.5.2.2", "8.6.1"])
def test_plan_tensorrt_8_5_and_later_use_named_tensors(version):
    plan = api_plan(version)
    assert plan.io_api == "tensors" and plan.execute_call == "execute_async_v3"
    assert plan.set_input_shape == "set_input_shape"
    assert plan.network_flags == ["EXPLICIT_BATCH"]


def test_plan_tensorrt_10_has_explicit_batch_by_default():
    plan = api_plan("10.3.0")
    assert plan.network_flags == []
    assert plan.io_api == "tensors"
    assert plan.precision_flags and not plan.strongly_typed


def test_plan_tensorrt_11_is_strongly_typed():
    plan = api_plan("11.0.0.1")
    assert plan.network_flags == []  # STRONGLY_TYPED is ignored (always on) in 11
    assert not plan.precision_flags and not plan.int8_calibration and plan.strongly_typed


def test_plan_tensorrt_7_builds_with_build_engine():
    assert api_plan("7.1.3").build_call == "build_engine"


def test_plan_too_old():
    with pytest.raises(UserError, match="too old"):
        api_plan("6.0.1")


def test_int8_refused_without_fast_int8_like_tx2():
    with pytest.raises(UserError) as info:
        precision_plan("8.2.1.8", int8=True, fast_int8=False, calibration=True)
    message = str(info.value)
    assert "platform_has_fast_int8" in message and "--allow-fallback" in message and "\n" not in message


def test_int8_falls_back_to_fp16_when_allowed():
    plan = precision_plan("8.2.1.8", int8=True, fast_int8=False, allow_fallback=True, calibration=True)
    assert plan.precision == "fp16" and plan.flags == ["FP16"] and not plan.calibrate
    assert any("falling back to FP16" in note for note in plan.notes)


def test_fp16_falls_back_to_fp32_without_fast_fp16():
    with pytest.raises(UserError, match="fast FP16"):
        precision_plan("8.6.1", fp16=True, fast_fp16=False)
    plan = precision_plan("8.6.1", fp16=True, fast_fp16=False, allow_fallback=True)
    assert plan.precision == "fp32" and plan.flags == []


def test_int8_with_calibration_sets_int8_and_fp16_flags():
    plan = precision_plan("8.6.1", int8=True, calibration=True)
    assert plan.precision == "int8" and plan.flags == ["INT8", "FP16"] and plan.calibrate
    assert plan.onnx_variant is None


def test_int8_without_calibration_uses_qdq_or_refuses():
    plan = precision_plan("10.3.0", int8=True, qdq_model=True)
    assert plan.onnx_variant == "int8" and not plan.calibrate and "INT8" in plan.flags
    with pytest.raises(UserError, match="--calib DIR"):
        precision_plan("10.3.0", int8=True)


def test_tensorrt_11_fp16_means_the_fp16_onnx():
    plan = precision_plan("11.0.0.1", fp16=True)
    assert plan.flags == [] and plan.onnx_variant == "fp16"
    assert any("-fp16.onnx" in note for note in plan.notes)
    with pytest.raises(UserError, match="QDQ"):
        precision_plan("11.0.0.1", int8=True, calibration=True)
    assert precision_plan("11.0.0.1", int8=True, qdq_model=True).onnx_variant == "int8"


def test_fp32_plan_has_no_flags():
    plan = precision_plan("8.2.1.8")
    assert plan == PrecisionPlan(precision="fp32", flags=[], calibrate=False, onnx_variant=None,
                                 network_flags=["EXPLICIT_BATCH"], notes=[])


def test_tensorrt_10_12_builds_typed_onnx_instead_of_deprecated_flags():
    plan = precision_plan("10.13.0.35", fp16=True, fp16_model=True)
    assert plan.flags == [] and plan.onnx_variant == "fp16" and plan.network_flags == ["STRONGLY_TYPED"]
    plan = precision_plan("10.13.0.35", int8=True, qdq_model=True)
    assert plan.flags == [] and plan.onnx_variant == "int8" and plan.network_flags == ["STRONGLY_TYPED"]
    # without the typed file the deprecated flag still works, and the note says how to avoid it
    plan = precision_plan("10.13.0.35", fp16=True)
    assert plan.flags == ["FP16"] and plan.network_flags == []
    assert any("deprecates BuilderFlag.FP16" in note for note in plan.notes)
    # before 10.12 the flags are not deprecated and stay the way
    assert precision_plan("10.3.0", fp16=True, fp16_model=True).flags == ["FP16"]


def test_platform_caps_and_calibrator_deprecation_by_version():
    assert api_plan("10.4.0").platform_caps and not api_plan("10.5.0").platform_caps
    plan = precision_plan("10.3.0", int8=True, calibration=True)
    assert plan.calibrate and any("deprecates the INT8 calibrator" in note for note in plan.notes)
    assert not any("deprecates" in n for n in precision_plan("8.6.1", int8=True, calibration=True).notes)


def test_plan_is_a_typed_record():
    plan = api_plan("8.5.2.2")
    assert plan.named_tensors and not api_plan("8.4.1.5").named_tensors
    assert plan._fields[:2] == ("version", "network_flags") and plan.version == "8.5.2.2"
    with pytest.raises(AttributeError):
        plan.io_api = "bindings"   # a plan is not edited in place; _replace gives a new one
    forced = plan._replace(io_api="bindings", execute_call="execute_async_v2")
    assert not forced.named_tensors and plan.named_tensors
