"""Our TensorRT code against NVIDIA's real Python bindings, with the native library replaced.

What this checks (see README "TensorRT without a GPU"): for the bindings of TensorRT 8.6.1, 10.13
and 11.4, every TensorRT call our builder, calibrator and runner make on each version path (8.2 and
8.4/8.5 on the 8.6 bindings, 8.6, 10.3 and 10.13 on the 10.13 bindings, 11.4) names a method or
property that exists in that version, with an argument count, keyword names and argument types one
of its real overloads accepts, and uses no member the bindings mark [DEPRECATED] on the current
version's own path. The data path (device addresses, shapes, buffers) is checked end to end through a
host-memory CUDA stand-in. What it cannot check: ONNX parsing, layer support, kernels, numerics,
CUDA, or anything the native library does.
"""

import os
import subprocess
import sys

import pytest

import trt_bindings

pytestmark = pytest.mark.slow

HERE = os.path.dirname(os.path.abspath(__file__))

# bindings -> the version paths checked on them (our code is told that version number)
PATHS = {"8.6": ["8.2.1.8", "8.4.1.5", "8.5.2.2", "8.6.1"], "10.13": ["10.3.0", "10.13.0.35"],
         "11.4": ["11.4.0.106"]}
CURRENT = {"8.6": "8.6.1", "10.13": "10.13.0.35", "11.4": "11.4.0.106"}


@pytest.fixture(scope="module", params=sorted(PATHS))
def bindings(request, tmp_path_factory):
    key = request.param
    folder, libs = trt_bindings.prepare_or_skip(key)
    return {"key": key, "folder": folder, "libs": libs, "work": str(tmp_path_factory.mktemp("trt" + key))}


@pytest.fixture(scope="module")
def drive(bindings):
    """One process per bindings version: every case on every version path, as JSON."""
    pytest.importorskip("onnx")
    data = trt_bindings.drive([os.path.join(HERE, "trt_drive.py"), bindings["folder"], bindings["work"]]
                              + PATHS[bindings["key"]], bindings["libs"])
    assert data["bindings"] == CURRENT[bindings["key"]]
    return {(r["version"], r["case"]): r for r in data["results"]}


def _major_minor(version):
    return tuple(int(p) for p in version.split(".")[:2])


def test_standin_libraries_export_exactly_what_the_bindings_need(bindings):
    needed = set(trt_bindings.undefined_symbols(bindings["folder"]))
    exported = set()
    for name in os.listdir(bindings["libs"]):
        if ".so." in name and not name.endswith((".c", ".tmp")):
            out = subprocess.run(["nm", "-D", "--defined-only", os.path.join(bindings["libs"], name)],
                                 stdout=subprocess.PIPE, universal_newlines=True, check=True).stdout
            exported.update(line.split()[-1] for line in out.splitlines() if line.split()[1:2] == ["T"])
    assert needed and needed <= exported, sorted(needed - exported)
    libs = set(os.listdir(bindings["libs"]))
    assert all(lib in libs for lib in trt_bindings.needed_libraries(bindings["folder"]) if "nv" in lib)


def test_real_bindings_import_and_refuse_a_builder_without_gpu(bindings):
    code = ("import tensorrt_bindings as trt\nlogger = trt.Logger(trt.Logger.WARNING)\n"
            "try:\n    trt.Builder(logger)\nexcept TypeError as exc:\n    print('refused:', exc)\n"
            "print(trt.__version__, len(trt.BuilderFlag.__members__))")
    result = subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            universal_newlines=True, env=dict(trt_bindings.environment(bindings["libs"]),
                                                              PYTHONPATH=bindings["folder"]), timeout=60)
    assert result.returncode == 0, result.stderr
    assert "refused: pybind11::init(): factory function returned nullptr" in result.stdout
    assert CURRENT[bindings["key"]] in result.stdout


WORKING = ["fp32", "fp32+cuda_graph", "fp16", "int8_qdq", "workspace+timing_cache+report", "dla", "dynamic_shapes",
           "int8_calibrator"]


def test_every_version_path_builds_and_runs(bindings, drive):
    for version in PATHS[bindings["key"]]:
        for case in WORKING:
            r = drive[(version, case)]
            if case == "int8_calibrator" and _major_minor(version) >= (11, 0):
                assert r["status"] == "user_error" and "needs the QDQ model" in r["message"]
                continue
            assert r["status"] == "ok", (version, case, r.get("message"), r.get("where"))
            # the numbers went in and out through the addresses our runner bound
            assert r["result"]["max_error"] == 0.0, (version, case)
            if "io_api" in r["result"]:
                assert r["result"]["io_api"] == ("tensors" if _major_minor(version) >= (8, 5) else "bindings")


def test_version_specific_calls(bindings, drive):
    for version in PATHS[bindings["key"]]:
        mm = _major_minor(version)
        calls = drive[(version, "workspace+timing_cache+report")]["calls"]
        if mm < (8, 4):
            assert "IBuilderConfig.max_workspace_size=" in calls
        else:
            assert "IBuilderConfig.set_memory_pool_limit" in calls
        assert "IBuilderConfig.create_timing_cache" in calls and "EngineInspector.get_engine_information" in calls
        assert "IBuilderConfig.profiling_verbosity=" in calls
        run_calls = drive[(version, "fp32")]["calls"]
        assert ("IExecutionContext.execute_async_v3" in run_calls) == (mm >= (8, 5))
        assert ("IExecutionContext.execute_async_v2" in run_calls) == (mm < (8, 5))
        flags = [e for e in drive[(version, "fp32")]["events"] if e.startswith("network_flags=")]
        assert flags == ["network_flags=EXPLICIT_BATCH" if mm < (10, 0) else "network_flags="]
        if mm >= (10, 12) and mm < (11, 0):
            typed = [e for e in drive[(version, "fp16")]["events"] if e.startswith("network_flags=")]
            assert typed == ["network_flags=STRONGLY_TYPED"]
        assert drive[(version, "fp32+cuda_graph")]["result"]["graph"] is True
        dla = drive[(version, "dla")]
        assert dla["result"]["dla_layers"] == 1 and dla["result"]["gpu_fallback_layers"] == 1
        assert "IBuilderConfig.DLA_core=" in dla["calls"] and "IBuilderConfig.default_device_type=" in dla["calls"]
        if mm < (11, 0):
            calib = drive[(version, "int8_calibrator")]["result"]
            assert calib["cache_written"] and calib["from_cache"]


def test_no_deprecated_api_on_the_current_versions_own_path(bindings, drive):
    version = CURRENT[bindings["key"]]
    # the implicit-INT8 calibrator is deprecated itself from 10.1: asked for, it is used and said so
    allowed = {"int8_calibrator": {"BuilderFlag.INT8", "BuilderFlag.FP16", "IInt8EntropyCalibrator2"},
               "calibrator_failure": {"BuilderFlag.INT8", "BuilderFlag.FP16", "IInt8EntropyCalibrator2"},
               "tx2_int8_refusal": {"BuilderFlag.INT8", "BuilderFlag.FP16", "IInt8EntropyCalibrator2"}}
    for case in WORKING + ["context_none"]:
        r = drive[(version, case)]
        extra = set(r["deprecated"]) - allowed.get(case, set())
        assert not extra, (version, case, sorted(extra))


def test_tx2_int8_refusal_where_tensorrt_can_say(bindings, drive):
    for version in PATHS[bindings["key"]]:
        mm = _major_minor(version)
        r = drive[(version, "tx2_int8_refusal")]
        if mm >= (11, 0):
            assert r["status"] == "user_error" and "needs the QDQ model" in r["message"]
        elif mm >= (10, 5):  # platform_has_fast_int8 is deprecated there; no TX2 runs 10.x
            assert r["status"] == "ok" and r["result"]["refused"] is None
            assert "Builder.platform_has_fast_int8" not in r["calls"]
        else:
            assert r["status"] == "ok", r.get("message")
            assert "platform_has_fast_int8 is False" in r["result"]["refused"]
            assert r["result"]["built_precision"] == "fp16"


def test_context_none_and_calibrator_failure_are_one_line(bindings, drive):
    for version in PATHS[bindings["key"]]:
        r = drive[(version, "context_none")]
        assert r["status"] == "ok" and "could not create an execution context" in r["result"]["refused"]
        r = drive[(version, "calibrator_failure")]
        assert r["status"] == "ok"
        if _major_minor(version) < (11, 0):
            message = r["result"]["refused"]
            assert message.startswith("INT8 calibration stopped in get_batch:") and "b.png" in message
            assert "\n" not in message and r["result"]["freed"] == 1  # the calibrator's buffer was released


def test_doctor_selftest_runs_every_io_path_of_each_version(bindings, drive):
    for version in PATHS[bindings["key"]]:
        r = drive[(version, "selftest")]
        assert r["status"] == "ok" and r["result"]["status"] == "ok", (version, r)
        paths = sorted(set(io for io, _ in r["result"]["runs"]))
        mm = _major_minor(version)
        expected = (["bindings"] if mm < (10, 0) else []) + (["tensors"] if mm >= (8, 5) else [])
        assert paths == sorted(expected), (version, paths)
        assert [graph for _, graph in r["result"]["runs"]] == [False, True] * len(expected)
        assert r["result"]["max_error"] == 0.0


PLANTED = {
    "planted:wrong_keyword": "has no keyword 'size'",
    "planted:float_pool_size": "pool_size must be",
    "planted:buffer_object": "memory must be",
}


def test_planted_mistakes_are_caught(bindings, drive):
    for version in PATHS[bindings["key"]]:
        mm = _major_minor(version)
        for case, words in PLANTED.items():
            r = drive[(version, case)]
            if case == "planted:buffer_object" and mm < (8, 5):
                # the bindings path passes a list to execute_async_v2: the object is caught there
                assert r["status"] == "slip" and "bindings must be" in r["message"], r
                continue
            assert r["status"] == "slip" and words in r["message"], (version, case, r)
        v2 = drive[(version, "planted:execute_async_v2")]
        assert (v2["status"] == "slip") == (mm >= (10, 0)), (version, v2)
        if mm >= (10, 0):
            assert "execute_async_v2" in v2["message"]
        eb = drive[(version, "planted:explicit_batch")]
        assert (eb["status"] == "slip") == (mm >= (11, 0)), (version, eb)
        if mm >= (11, 0):
            assert "EXPLICIT_BATCH" in eb["message"]
