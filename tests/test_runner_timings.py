"""The timed runner contract (runtime/base.py): ``Runner.infer`` checks the batch against the runner's
declared input, runs the backend's ``infer_impl`` and keeps a ``Timings`` (h2d, compute, d2h, host ms)
that every runner fills -- ONNX Runtime and torch here, TensorRT through the strict stand-ins of
NVIDIA's bindings (trt_drive.py) -- and `bench --end-to-end --json` reports all three runner stages on
every backend, from one loop for the CLI and the Python API."""

import json
import os

import numpy as np
import pytest

import trt_bindings
from conftest import run_cli
from espnet_edge.apps.pipeline import STAGES
from espnet_edge.errors import UserError
from espnet_edge.runtime.base import Runner, Timings
from espnet_edge.runtime.benchmark import RUNNER_STAGES
from test_onnxruntime_runner import _identity_logits

HERE = os.path.dirname(os.path.abspath(__file__))


def _check_timings(timings):
    """Every stage a number (never None), none negative, and the three stages inside the host call."""
    assert isinstance(timings, Timings), timings
    assert all(isinstance(ms, float) and ms >= 0.0 for ms in timings), timings
    assert timings.h2d + timings.compute + timings.d2h <= timings.host + 1e-6, timings


def _onnxruntime_runner(tmp_path):
    from espnet_edge.runtime.onnxruntime_runner import OnnxRuntimeRunner

    path, _ = _identity_logits(tmp_path / "toy.onnx")
    return OnnxRuntimeRunner(path, threads=1)


def _torch_runner(tmp_path):
    pytest.importorskip("torch")
    from espnet_edge.host.torch_runner import TorchRunner

    return TorchRunner("espnet-c-q3", size=(64, 32), threads=1)


@pytest.mark.parametrize("make", [_onnxruntime_runner, _torch_runner], ids=["onnxruntime", "torch"])
def test_every_runner_fills_its_timings(make, tmp_path, shared):
    runner = make(tmp_path)
    try:
        assert runner.timings is None and runner.TIMINGS != Runner.TIMINGS  # each says how it measures
        batch = np.random.RandomState(0).randn(*runner.info.input_shape).astype(np.float32)
        for _ in range(2):
            out = runner.infer(batch)
            _check_timings(runner.timings)
            assert runner.timings.compute > 0.0
        assert out.shape[0] == batch.shape[0]
        if runner.backend == "torch":  # its own host-clock split: the forward pass is most of the call
            assert runner.timings.compute >= runner.timings.h2d and runner.timings.compute >= runner.timings.d2h
        else:  # ONNX Runtime's copies are inside session.run: 0.0, stated in TIMINGS
            assert runner.timings.h2d == runner.timings.d2h == 0.0 and "inside run" in runner.TIMINGS
    finally:
        runner.close()


@pytest.mark.parametrize("make", [_onnxruntime_runner, _torch_runner], ids=["onnxruntime", "torch"])
def test_a_wrong_batch_is_one_line_naming_expected_and_got(make, tmp_path, shared):
    runner = make(tmp_path)
    try:
        shape = list(runner.info.input_shape)
        good = np.zeros(shape, np.float32)
        for bad, got in ((good.astype(np.float64), "float64"), (good[:, :, :-1], str(list(good[:, :, :-1].shape)))):
            with pytest.raises(UserError) as info:
                runner.infer(bad)
            message = str(info.value)
            assert "\n" not in message and got in message and str(shape[1:])[1:-1] in message, message
            assert "expects input shaped [" in message and "float32" in message
        assert runner.timings is None  # nothing ran
    finally:
        runner.close()


def test_a_backend_that_leaves_a_stage_unmeasured_is_refused(tmp_path):
    runner = _onnxruntime_runner(tmp_path)
    runner.infer_impl = lambda batch: (batch, (None, 1.0, 0.0))
    with pytest.raises(TypeError):
        runner.infer(np.zeros(runner.info.input_shape, np.float32))
    runner.close()


# TensorRT: the runner's CUDA events (host_cuda.HostCuda stamps each event when its stream work ends)
TRT_PATHS = {"8.6": ["8.2.1.8", "8.6.1"], "10.13": ["10.13.0.35"]}


@pytest.fixture(scope="module", params=sorted(TRT_PATHS))
def tensorrt_cases(request, tmp_path_factory):
    pytest.importorskip("onnx")
    folder, libs = trt_bindings.prepare_or_skip(request.param)
    work = str(tmp_path_factory.mktemp("trt-timings"))
    results = trt_bindings.drive([os.path.join(HERE, "trt_drive.py"), folder, work] + TRT_PATHS[request.param],
                                 libs, timeout=600, TRT_DRIVE_CASES="timings,bench_end_to_end")["results"]
    assert sorted(set(r["version"] for r in results)) == sorted(TRT_PATHS[request.param])
    return results


def test_tensorrt_runner_fills_its_timings_from_cuda_events(tensorrt_cases):
    for case in [r for r in tensorrt_cases if r["case"] == "timings"]:
        assert case["status"] == "ok", case
        for call in case["result"]["timings"]:
            _check_timings(Timings(**call))
            assert call["compute"] > 0.0
        assert "CUDA events" in case["result"]["note"]
        refused = case["result"]["refused_float64"]
        assert refused and "float32" in refused and "float64" in refused and "[1, 3, 8, 16]" in refused


def test_tensorrt_bench_end_to_end_json_has_every_runner_stage(tensorrt_cases):
    for case in [r for r in tensorrt_cases if r["case"] == "bench_end_to_end"]:
        assert case["status"] == "ok", case
        result = case["result"]
        assert result["backend"] == "tensorrt" and result["mode"] == "end-to-end" and result["pipelined"]
        for stage in RUNNER_STAGES:
            assert result["stages"][stage] is not None and result["stages"][stage]["count"] == 3, stage
            assert result["stages"][stage]["min"] >= 0.0
        assert result["stages"]["compute"]["mean"] > 0.0
        assert result["stages"]["render"]["count"] == 3   # the pipeline rendered every timed frame


def test_api_and_cli_bench_end_to_end_are_the_same_loop(small_onnx, tmp_path):
    """`espnet-edge bench --end-to-end --json` and espnet_edge.bench(end_to_end=True): the same keys, both
    through the threaded pipeline, every runner stage measured."""
    import espnet_edge as ee

    out = str(tmp_path / "cli.json")
    proc = run_cli("bench", "--onnx", small_onnx, "--end-to-end", "--iters", "3", "--warmup", "1",
                   "--threads", "1", "--json", out)
    assert proc.returncode == 0, proc.stderr
    cli = json.load(open(out))
    api = ee.bench(small_onnx, end_to_end=True, iters=3, warmup=1, threads=1)
    assert list(api) == list(cli)
    for result in (api, cli):
        assert result["mode"] == "end-to-end" and result["pipelined"] is True and result["iters"] == 3
        assert sorted(result["stages"]) == sorted(STAGES + ("glass_to_glass",))
        for stage in RUNNER_STAGES + ("preprocess", "postprocess", "render", "glass_to_glass"):
            assert result["stages"][stage]["count"] == 3, stage
        assert sorted(result["stages"]["compute"]) == sorted(cli["stages"]["compute"])
        assert result["frames"] == "synthetic" and result["model_details"]["onnx"] == small_onnx
        assert len(result["iterations"]) == 3 and sorted(result["iterations"][0]) == [
            "end_perf", "end_time", "start_perf", "start_time"]
    compute = ee.bench(small_onnx, iters=2, warmup=0, threads=1)
    assert list(compute) == list(cli) and compute["mode"] == "compute" and compute["pipelined"] is None
    assert [compute["stages"][s]["count"] for s in RUNNER_STAGES] == [2, 2, 2]
