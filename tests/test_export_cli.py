"""`espnet-edge export` end to end, and its one-line errors for bad input."""

import json
import os

import pytest

from conftest import CITYSCAPES_IMAGES, PHOTOS, TRT_SUPPORT, run_main


def _one_line_error(result, *needles):
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.fixture(scope="module")
def exported(tmp_path_factory, shared):
    out = str(tmp_path_factory.mktemp("cli"))
    result = run_main("export", "--model", "espnet-c-q8", "--size", "128x64", "--fp16", "--int8",
                      "--calib", PHOTOS, "--calib-method", "percentile", "--int8-equalize",
                      "--images", CITYSCAPES_IMAGES, "--out", out, env={"ESPNET_EDGE_TRT_SUPPORT": TRT_SUPPORT})
    return out, result


@pytest.mark.slow
def test_export_writes_fp32_fp16_int8_and_reports(exported):
    out, result = exported
    assert result.returncode == 0, result.stderr
    for suffix in ("", "-fp16", "-int8"):
        path = os.path.join(out, "espnet-c-q8-128x64{}.onnx".format(suffix))
        assert os.path.isfile(path) and os.path.isfile(path + ".report.json")
    report = json.load(open(os.path.join(out, "espnet-c-q8-128x64.onnx.report.json")))
    assert report["tensorrt_check"] == {"version": "8.2", "matrix": TRT_SUPPORT, "passed": True}
    assert report["verification"]["images"] == 2
    int8 = json.load(open(os.path.join(out, "espnet-c-q8-128x64-int8.onnx.report.json")))
    assert int8["quantization"]["method"] == "percentile" and len(int8["quantization"]["calibration_images"]) == 6
    assert int8["quantization"]["equalized"]  # ESPNet's activations read by Convs only were rescaled
    assert "TensorRT 8.2 check passed" in result.stdout
    assert "fp16 engine: not built here" in result.stdout and "espnet-edge build" in result.stdout
    assert "mask agreement" in result.stdout and "no fast INT8" in result.stdout
    assert "on 2 real image(s) vs" in result.stdout and "held-out image(s) vs" in result.stdout
    assert not [f for f in os.listdir(out) if f.endswith(".tmp")]


@pytest.mark.slow
def test_bench_json_from_a_real_run(exported, tmp_path):
    out, _ = exported
    target = tmp_path / "bench.json"
    result = run_main("bench", "--onnx", os.path.join(out, "espnet-c-q8-128x64.onnx"), "--iters", "3",
                      "--warmup", "1", "--threads", "1", "--json", str(target))
    assert result.returncode == 0, result.stderr
    data = json.load(open(str(target)))
    assert data["backend"] == "onnxruntime" and data["model"] == "espnet-c-q8" and data["size"] == "128x64"
    assert data["iters"] == 3 and len(data["iterations"]) == 3
    for key in ("mean", "p50", "p90", "p99", "min", "max"):
        assert data["latency_ms"][key] > 0
    assert data["latency_ms"]["min"] <= data["latency_ms"]["p50"] <= data["latency_ms"]["max"]
    assert data["fps"] == pytest.approx(1000.0 / data["latency_ms"]["mean"])
    assert data["host"]["cpu_count"] >= 1 and data["runner"]["threads"] == 1
    first = data["iterations"][0]
    assert first["end_perf"] > first["start_perf"] and first["end_time"] >= first["start_time"]
    e2e = run_main("bench", "--onnx", os.path.join(out, "espnet-c-q8-128x64-int8.onnx"), "--iters", "2",
                   "--end-to-end", "--images", PHOTOS)
    assert e2e.returncode == 0 and "[end-to-end]" in e2e.stdout


def test_bench_freq_without_jetson_is_one_line(small_onnx, tmp_path):
    result = run_main("bench", "--onnx", small_onnx, "--iters", "1", "--freq", "1300",
                      env={"ESPNET_EDGE_SYSFS_ROOT": str(tmp_path)})
    _one_line_error(result)


@pytest.mark.parametrize("args,needles", [
    (("--model", "espnet-q8", "--size", "100x60"), ("multiples of 8",)),
    (("--model", "espnetv2-s0.5-city-512", "--size", "200x104"), ("multiples of 16",)),
    (("--model", "espnet-q8", "--opset", "17"), ("TensorRT 8.2", "opset <= 13")),
    (("--model", "espnet-q8", "--int8"), ("--calib",)),
    (("--model", "espnet-q8", "--int8-equalize"), ("--int8-equalize", "--int8")),
    (("--model", "nope"),  ("unknown model",)),
])
def test_export_bad_input(args, needles, tmp_path):
    _one_line_error(run_main("export", "--out", str(tmp_path), *args), *needles)


def test_export_calib_problems(tmp_path, shared):
    empty = tmp_path / "empty"
    empty.mkdir()
    _one_line_error(run_main("export", "--model", "espnet-c-q3", "--size", "64x64", "--int8", "--calib",
                             str(empty), "--out", str(tmp_path)), "no images")
    broken = tmp_path / "broken"
    broken.mkdir()
    for index in range(4):
        (broken / "x{}.png".format(index)).write_bytes(b"not a png")
    _one_line_error(run_main("export", "--model", "espnet-c-q3", "--size", "64x64", "--int8", "--calib",
                             str(broken), "--out", str(tmp_path)), "cannot decode")


def test_export_to_unwritable_folder(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    _one_line_error(run_main("export", "--model", "espnet-c-q3", "--out", str(blocker / "sub")),
                    "cannot create output folder", "--out")


def test_bench_and_runner_reject_bad_onnx_files(tmp_path, small_onnx):
    good = small_onnx
    truncated = tmp_path / "trunc.onnx"
    truncated.write_bytes(open(good, "rb").read()[:5000])
    _one_line_error(run_main("bench", "--onnx", str(truncated), "--iters", "1"), "truncated")
    import onnx

    model = onnx.load(good)
    del model.metadata_props[:]
    foreign = tmp_path / "foreign.onnx"
    foreign.write_bytes(model.SerializeToString())
    _one_line_error(run_main("bench", "--onnx", str(foreign), "--iters", "1"), "no espnet-edge metadata")
