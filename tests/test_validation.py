"""Every option and output path is checked before the work starts; every mistake gets one line that
names the flag the user typed, a non-zero exit and no traceback. Each case here was once accepted
silently, answered with a traceback after the work, or named a flag the command does not have."""

import os
import signal
import struct
import sys
import time
import zlib

import pytest

from conftest import PHOTOS, run_main, spawn

PHOTO = os.path.join(PHOTOS, "sample1.jpg")


def one_line_error(result, command):
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("espnet-edge {}: error: ".format(command)), lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def no_jetson(tmp_path_factory):
    return {"ESPNET_EDGE_SYSFS_ROOT": str(tmp_path_factory.mktemp("not-a-jetson"))}


@pytest.mark.parametrize("command, args, words", [
    ("bench", ["--duration", "nan"], "argument --duration: must be a finite number"),
    ("bench", ["--duration", "inf"], "argument --duration: must be a finite number"),
    ("bench", ["--duration", "0"], "argument --duration: must be a finite number > 0"),
    ("bench", ["--batch", "0"], "argument --batch: must be at least 1"),
    ("bench", ["--threads", "0"], "argument --threads: must be at least 1"),
    ("bench", ["--threads", "-3"], "argument --threads: must be at least 1"),
    ("bench", ["--iters", "0"], "argument --iters: must be at least 1"),
    ("bench", ["--size", "12x"], "argument --size: size '12x' is not WIDTHxHEIGHT"),
    ("profile", ["--idle", "nan"], "argument --idle: must be a finite number"),
    ("profile", ["--idle", "-1"], "argument --idle: must be a finite number >= 0"),
    ("profile", ["--duration", "inf"], "argument --duration: must be a finite number"),
    ("profile", ["--interval", "0"], "argument --interval: must be at least 1"),
    ("sweep", ["--threads", "0"], "argument --threads: must be at least 1"),
    ("segment", ["--alpha", "nan", PHOTO, "--out", "x"], "argument --alpha: must be a finite number"),
    ("demo", ["--source", PHOTO, "--alpha", "2"], "argument --alpha: must be between 0 and 1"),
    ("demo", ["--source", PHOTO, "--max-frames", "0"], "argument --max-frames: must be at least 1"),
    ("export", ["--calib-count", "0"], "argument --calib-count: must be at least 1"),
    ("export", ["--int8-float", "-3"], "argument --int8-float: must be 0 or more"),
    ("export", ["--batch", "0"], "argument --batch: must be at least 1"),
])
def test_bad_numbers_are_refused_by_the_parser(command, args, words):
    source = ["--model", "espnet-c-q3"]
    result = run_main(command, *(source + args))
    assert result.returncode == 2, result.stderr
    assert words in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("args, words", [
    (["--max-images", "0"], "argument --max-images: must be at least 1"),
    (["--max-logit-diff", "-1"], "argument --max-logit-diff: must be a finite number >= 0"),
    (["--max-logit-diff", "nan"], "argument --max-logit-diff: must be a finite number"),
    (["--min-agreement", "1.5"], "argument --min-agreement: must be between 0 and 1"),
])
def test_compare_options(args, words):
    result = run_main("compare", "espnet-c-q3", "espnet-c-q3", "--images", PHOTO, *args)
    assert result.returncode == 2 and words in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_output_paths_that_are_folders_fail_before_the_work(tmp_path):
    folder = tmp_path / "existing"
    folder.mkdir()
    cases = [
        ("bench", ["--model", "espnet-c-q3", "--json", folder], "--json"),
        ("compare", ["espnet-c-q3", "espnet-c-q3", "--images", PHOTO, "--json", folder], "--json"),
        ("eval", ["--model", "espnet-c-q3", "--data", tmp_path, "--json", folder], "--json"),
        ("demo", ["--model", "espnet-c-q3", "--source", PHOTO, "--no-display", "--record-stats",
                  tmp_path / "stats.json/"], "--record-stats"),
    ]
    (tmp_path / "stats.json").mkdir()
    for command, args, flag in cases:
        line = one_line_error(run_main(command, *args), command)
        assert "{} ".format(flag) in line and "is a folder" in line, line
        assert "--out" not in line   # the flag this command has, not another one's
    assert os.listdir(str(folder)) == []


def test_segment_out_that_is_a_file(tmp_path):
    target = tmp_path / "masks"
    target.write_text("not a folder")
    line = one_line_error(run_main("segment", "--model", "espnet-c-q3", PHOTO, "--out", target), "segment")
    assert "--out {} is a file, not a folder".format(target) in line


def test_export_checks_its_inputs_before_exporting(tmp_path):
    empty = tmp_path / "calib"
    empty.mkdir()
    out = tmp_path / "onnx"
    for args, words in (
            (["--int8", "--calib", empty], "--calib folder {} holds no images".format(empty)),
            (["--int8", "--calib", tmp_path / "missing"], "--calib {} does not exist".format(tmp_path / "missing")),
            (["--images", tmp_path / "nope"], "--images {} does not exist".format(tmp_path / "nope")),
            (["--weights", tmp_path], "--weights {} is a folder".format(tmp_path))):
        result = run_main("export", "--model", "espnet-c-q3", "--size", "256x128", "--out", out, *args)
        line = one_line_error(result, "export")
        assert words in line, line
        assert "wrote" not in result.stdout   # refused before the export
    assert not out.exists() or os.listdir(str(out)) == []


def test_check_onnx_refuses_an_empty_file(tmp_path):
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    line = one_line_error(run_main("check-onnx", empty), "check-onnx")
    assert "is empty (0 bytes)" in line


def test_weights_folder_is_named_as_a_folder(tmp_path):
    line = one_line_error(run_main("bench", "--model", "espnet-c-q3", "--weights", tmp_path), "bench")
    assert "--weights {} is a folder".format(tmp_path) in line


@pytest.mark.parametrize("command, args, flag", [
    ("bench", ["--model", "espnet-c-q3", "--freq", "828"], "--freq needs a Jetson board"),
    ("profile", ["--model", "espnet-c-q3", "--freq", "828"], "--freq needs a Jetson board"),
    ("sweep", ["--model", "espnet-c-q3", "--freqs", "828,520"], "--freqs needs a Jetson board"),
    ("clocks", ["set", "828"], "clocks set needs a Jetson board"),
])
def test_messages_name_the_flag_typed(no_jetson, tmp_path, command, args, flag):
    line = one_line_error(run_main(command, *args, env=no_jetson), command)
    assert flag in line, line


def test_sweep_checks_the_file_before_the_board(no_jetson, tmp_path):
    line = one_line_error(run_main("sweep", "--onnx", tmp_path / "missing.onnx", "--freqs", "828",
                                   env=no_jetson), "sweep")
    assert "--onnx {} does not exist".format(tmp_path / "missing.onnx") in line


def _png_header_claiming(width, height):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


def test_png_claiming_60000_squared_pixels(tmp_path, small_onnx):
    huge = tmp_path / "huge.png"
    huge.write_bytes(_png_header_claiming(60000, 60000))
    line = one_line_error(run_main("segment", "--onnx", small_onnx, huge, "--out", tmp_path / "out"), "segment")
    assert "cannot decode image {}".format(huge) in line and "more pixels" in line


def test_segment_model_and_a_mismatched_onnx(small_onnx, tmp_path):
    line = one_line_error(run_main("segment", "--model", "espnetv2-s0.5-pascal-256", "--onnx", small_onnx,
                                   PHOTO, "--out", tmp_path / "out"), "segment")
    assert "the file is not that model at that size" in line and "[1, 3, 128, 256]" in line
    assert not (tmp_path / "out" / "sample1.png").exists()


def test_ctrl_c_during_start_up_imports_is_no_traceback():
    """SIGINT while `python -m espnet_edge` is still importing its subcommands (seen on stderr through
    -X importtime, which reports each import as it finishes)."""
    proc = spawn([sys.executable, "-X", "importtime", "-m", "espnet_edge", "models"])
    seen = []
    try:
        for line in proc.stderr:
            seen.append(line)
            if "espnet_edge.cli.cmd_" in line:   # the parser is being built
                proc.send_signal(signal.SIGINT)
                break
        rest = proc.stderr.read()
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    errors = "".join(seen) + rest
    assert "Traceback" not in errors, errors[-3000:]
    assert proc.returncode in (130, 0)
    time.sleep(0)


@pytest.mark.slow
def test_export_leaves_no_unverified_onnx(tmp_path):
    """An image that only fails when verification reads it: the .onnx must not stay behind."""
    images = tmp_path / "images"
    images.mkdir()
    (images / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    out = tmp_path / "onnx"
    result = run_main("export", "--model", "espnet-c-q3", "--size", "256x128", "--images", images, "--out", out)
    line = one_line_error(result, "export")
    assert "cannot decode image" in line
    assert not out.exists()   # neither the .onnx nor the --out folder this export made


def test_segment_and_export_targets_that_are_folders(tmp_path):
    out = tmp_path / "masks"
    (out / "sample1_color.png").mkdir(parents=True)
    line = one_line_error(run_main("segment", "--model", "espnet-c-q3", PHOTO, "--color", "--out", out), "segment")
    assert "sample1_color.png is a folder" in line
    assert not (out / "sample1.png").exists()   # refused before the first image
    onnx = tmp_path / "onnx"
    (onnx / "espnet-c-q3-256x128.onnx").mkdir(parents=True)
    result = run_main("export", "--model", "espnet-c-q3", "--size", "256x128", "--out", onnx)
    assert "espnet-c-q3-256x128.onnx is a folder" in one_line_error(result, "export")
    assert "exporting" not in result.stdout
