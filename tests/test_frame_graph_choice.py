"""The frame graph by default: `demo`, `segment` and `bench --end-to-end` with --model run the exact
frame graph for the frames' own size, exported into the cache once and reused; other frame sizes get
their own cached graph or the CPU path; --no-frame-graph keeps the CPU path; a plain --onnx graph gets
one line with the gain and the command that makes the frame graph; concurrent exports make one file."""

import json
import os
import shlex
import subprocess
import sys

import cv2
import numpy as np
import pytest

from conftest import CITYSCAPES_IMAGES, PHOTOS, ROOT, run_cli
from espnet_edge.apps import frame_graph_choice as choice_mod
from espnet_edge.backends import open_source, resolve
from espnet_edge.images import list_images, read_image
from espnet_edge.runtime.segmenter import Segmenter

MODEL, SIZE = "espnet-c-q3", (256, 128)
SMALL_PHOTO = os.path.join(PHOTOS, "sample8.jpg")  # 275x183


@pytest.mark.parametrize("version, key", [("8.2.1.8", "8.2"), ("8.4.3", "8.4"), ("8.5.2.2", "8.5"),
                                          ("8.6.1", "8.6"), ("10.3.0", "10"), ("11.4.0", "10"), ("7.1.3", None)])
def test_installed_tensorrt_picks_its_operator_table(version, key):
    assert choice_mod.trt_table_key(version) == key


def test_choice_per_source_and_backend(small_onnx):
    frame = (2048, 1024)
    model = resolve(model=MODEL, size=SIZE)
    chosen = choice_mod.choose(model, frame)
    assert chosen.frame_graph and chosen.frame_dtype == "uint8" and not chosen.asked
    for source, enabled, words in ((model, False, "--no-frame-graph"),
                                   (resolve(model=MODEL, size=SIZE, backend="torch"), True, "torch backend"),
                                   (resolve(onnx=small_onnx), True, "runs as it is"),
                                   (resolve(model=MODEL, size=SIZE, batch=2), True, "--batch 2")):
        cpu = choice_mod.choose(source, frame, enabled)
        assert not cpu.frame_graph and cpu.asked and words in cpu.reason
    trt = resolve(model=MODEL, size=SIZE, backend="tensorrt")
    assert choice_mod.choose(trt, frame, trt_version="8.2").frame_dtype == "float32"  # no UINT8 bindings
    assert choice_mod.choose(trt, frame, trt_version="10").frame_dtype == "uint8"
    # ESPNetv2's exact Pillow resize holds up to ~11x per axis in float32: beyond, the CPU path
    from espnet_edge.preprocess import pil_pass_exact

    assert not pil_pass_exact(2895, 256)
    far = choice_mod.choose(resolve(model="espnetv2-s0.5-city-512", size=SIZE), (2895, 128))
    assert not far.frame_graph and not far.asked and "width shrinks 2895 -> 256" in far.reason


@pytest.mark.slow
@pytest.mark.parametrize("model", [MODEL, "espnetv2-s0.5-city-512"])
def test_default_path_is_the_frame_graph_and_agrees_with_the_cpu_path(model):
    frames = [read_image(p) for p in list_images([CITYSCAPES_IMAGES])]
    source = resolve(model=model, size=SIZE)
    router = choice_mod.open_segmenter(source, frames[0])
    plain = Segmenter(open_source(source))
    try:
        assert router.choice["frame_graph"] and router.info.frame_size == (2048, 1024)
        assert router.info.fused_overlay and router.info.frame_dtype == "uint8"
        for frame in frames:
            graph_mask, overlay = router.segment_overlay(frame)
            cpu_mask = plain.segment(frame)
            assert (graph_mask == cpu_mask).mean() >= 0.9999
            same = graph_mask == cpu_mask  # the overlay is the CPU overlay wherever the classes agree
            from espnet_edge import visualize

            expected = visualize.overlay(frame, cpu_mask, router.info.palette, 0.5)
            assert np.array_equal(overlay[same], expected[same])
    finally:
        router.close()
        plain.close()


def _demo(cache, stats, *extra):
    return run_cli("demo", "--model", MODEL, "--size", "{}x{}".format(*SIZE), "--source", CITYSCAPES_IMAGES,
                   "--no-display", "--record-stats", stats, *extra, env={"ESPNET_EDGE_CACHE": str(cache)})


@pytest.mark.slow
def test_demo_exports_the_frame_graph_once_and_reuses_it(tmp_path):
    cache = tmp_path / "cache"
    first = _demo(cache, tmp_path / "s1.json")
    assert first.returncode == 0, first.stderr
    assert first.stderr.count("exporting the frame graph of {}".format(MODEL)) == 1
    second = _demo(cache, tmp_path / "s2.json", "-v")
    assert second.returncode == 0, second.stderr
    assert "note: exporting" not in second.stderr
    for stats, log in (("s1.json", first.stderr), ("s2.json", second.stderr)):
        summary = json.load(open(str(tmp_path / stats)))["summary"]
        graph = summary["graph"][0]
        assert graph["frame_graph"] and graph["frame_size"] == [2048, 1024] and graph["frame_dtype"] == "uint8"
        assert graph["path"].startswith(str(cache)) and os.path.isfile(graph["path"])
        assert "frame graph of {} at 256x128 for 2048x1024 uint8 frames".format(MODEL) in log
        assert graph["path"] in log  # the note says where it is cached
        assert summary["host_ms_per_frame"] > 0 and summary["frames"] == 2
    assert "why: --model {} on onnxruntime".format(MODEL) in second.stderr  # -v says why
    plain = _demo(cache, tmp_path / "s3.json", "--no-frame-graph")
    assert plain.returncode == 0, plain.stderr
    assert "frame graph" not in plain.stderr and "exporting {} at 256x128".format(MODEL) in plain.stderr
    assert json.load(open(str(tmp_path / "s3.json")))["summary"]["graph"][0]["frame_graph"] is False


def _segment(cache, out, inputs, *extra):
    return run_cli("segment", "--model", MODEL, "--size", "{}x{}".format(*SIZE), "--out", out, *(extra + inputs),
                   env={"ESPNET_EDGE_CACHE": str(cache)})


@pytest.mark.slow
def test_mixed_sizes_get_their_own_graph_or_the_cpu_path(tmp_path):
    street = list_images([CITYSCAPES_IMAGES])
    inputs = (street[0], SMALL_PHOTO, street[1])
    cache = tmp_path / "cache"
    run = _segment(cache, tmp_path / "graph", inputs)
    assert run.returncode == 0, run.stderr
    assert "another frame size: CPU path for 275x183 frames" in run.stderr
    reference = _segment(cache, tmp_path / "cpu", inputs, "--no-frame-graph")
    assert reference.returncode == 0, reference.stderr

    def masks(folder):
        return [cv2.imread(str(tmp_path / folder / (os.path.splitext(os.path.basename(p))[0] + ".png")), 0)
                for p in inputs]

    cpu = masks("cpu")
    graph = masks("graph")
    assert np.array_equal(graph[1], cpu[1])  # the photo went through the CPU path itself
    assert all((g == c).mean() >= 0.9999 for g, c in zip(graph, cpu))
    # once a graph for the photo's size is in the cache, it is used for that size too
    from espnet_edge.host.export.pipeline import ensure_onnx
    from espnet_edge.zoo import get_model

    os.environ["ESPNET_EDGE_CACHE"], saved = str(cache), os.environ["ESPNET_EDGE_CACHE"]
    try:
        ensure_onnx(get_model(MODEL), size=SIZE, frame_size=(275, 183), frame_dtype="uint8", trt_version="10",
                    images=[SMALL_PHOTO])
    finally:
        os.environ["ESPNET_EDGE_CACHE"] = saved
    again = _segment(cache, tmp_path / "graph2", inputs)
    assert again.returncode == 0, again.stderr
    assert "another frame size: frame graph of {} at 256x128 for 275x183 uint8 frames".format(MODEL) in again.stderr
    assert "note: exporting" not in again.stderr
    assert (masks("graph2")[1] == cpu[1]).mean() >= 0.999


@pytest.mark.slow
def test_plain_graph_says_once_what_the_frame_graph_gains_and_how_to_make_it(tmp_path, small_onnx):
    proc = run_cli("segment", "--onnx", small_onnx, "--out", tmp_path / "a", CITYSCAPES_IMAGES)
    assert proc.returncode == 0, proc.stderr
    notes = [line for line in proc.stderr.splitlines() if "is a plain graph" in line]
    assert len(notes) == 1
    assert "ms of host CPU work per frame on that path" in notes[0] and "docs/bench.md" in notes[0]
    assert "x of compute-only FPS on a quiet machine (1.28x the FPS)" in notes[0]
    command = notes[0].split("make it with `")[1].split("`")[0]
    assert command.startswith("espnet-edge export --model espnet-c-q3 --size 256x128 --fuse-pre --input-size "
                              "2048x1024 --fuse-overlay")
    made = run_cli(*(shlex.split(command)[1:] + ["--out", str(tmp_path / "made")]))
    assert made.returncode == 0, made.stderr
    (graph,) = [f for f in os.listdir(str(tmp_path / "made")) if f.endswith(".onnx")]
    again = run_cli("segment", "--onnx", tmp_path / "made" / graph, "--out", tmp_path / "b", CITYSCAPES_IMAGES)
    assert again.returncode == 0, again.stderr
    assert "plain graph" not in again.stderr


CONCURRENT = """
import sys
from espnet_edge.host.export.pipeline import ensure_onnx
from espnet_edge.zoo import get_model
print(ensure_onnx(get_model("{model}"), size={size}, frame_size=(640, 320), frame_dtype="uint8", trt_version="10"))
"""


@pytest.mark.slow
def test_concurrent_runs_export_the_frame_graph_once(tmp_path):
    env = dict(os.environ, PYTHONPATH=ROOT, ESPNET_EDGE_CACHE=str(tmp_path / "cache"))
    code = CONCURRENT.format(model=MODEL, size=SIZE)
    procs = [subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True) for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outs]
    paths = set(out.strip() for out, _ in outs)
    assert len(paths) == 1
    assert sum(err.count("note: exporting") for _, err in outs) == 1  # the other run waited, then reused it
    folder = str(tmp_path / "cache" / "export")
    name = os.path.basename(paths.pop())
    assert sorted(os.listdir(folder)) == [name, name + ".report.json"]  # no temporary or lock file left
    from espnet_edge.runtime.tensorrt.onnxmeta import model_info

    assert model_info(os.path.join(folder, name)).frame_size == (640, 320)


@pytest.mark.slow
def test_bench_end_to_end_runs_the_frame_graph_of_its_images(tmp_path):
    out = str(tmp_path / "e2e.json")
    proc = run_cli("bench", "--model", MODEL, "--size", "{}x{}".format(*SIZE), "--end-to-end", "--images",
                   CITYSCAPES_IMAGES, "--iters", "2", "--warmup", "1", "--json", out)
    assert proc.returncode == 0, proc.stderr
    result = json.load(open(out))
    assert result["graph"][0]["frame_graph"] and result["graph"][0]["frame_size"] == [2048, 1024]
    assert result["frame_size"] == "2048x1024" and result["host_ms_per_frame"] > 0
    refused = run_cli("bench", "--model", MODEL, "--no-frame-graph")
    assert refused.returncode == 2 and "--no-frame-graph is for --end-to-end" in refused.stderr


def test_a_frame_graph_that_cannot_be_made_falls_back_to_the_exact_cpu_path(monkeypatch, caplog):
    from espnet_edge.errors import UserError

    def refuse(self, choice, frame, export):
        raise UserError("node 'x' (Shape): operator not in the built-in table")

    monkeypatch.setattr(choice_mod.FrameGraphRouter, "_frame_graph", refuse)
    frame = read_image(list_images([CITYSCAPES_IMAGES])[0])
    source = resolve(model=MODEL, size=SIZE)
    router = choice_mod.open_segmenter(source, frame)
    plain = Segmenter(open_source(source))
    try:
        assert not router.choice["frame_graph"] and "Shape" in router.choice["reason"]
        assert "could not make the frame graph for 2048x1024 frames" in caplog.text
        assert np.array_equal(router.segment(frame), plain.segment(frame))
    finally:
        router.close()
        plain.close()


def test_demo_stats_name_what_ran_each_frame_size(tmp_path):
    import shutil

    from espnet_edge.apps import demo
    from espnet_edge.apps.sources import open_source as open_frames

    folder = tmp_path / "mixed"
    folder.mkdir()
    shutil.copy(list_images([CITYSCAPES_IMAGES])[0], str(folder / "a.png"))
    shutil.copy(SMALL_PHOTO, str(folder / "b.jpg"))
    frames = open_frames(str(folder))
    router = choice_mod.open_segmenter(resolve(model=MODEL, size=SIZE), frames.first_frame())
    stats = str(tmp_path / "s.json")
    try:
        result = demo.run_demo(router, frames, display=False, record_stats=stats)
    finally:
        router.close()
    graph = json.load(open(stats))["summary"]["graph"]
    assert result.frames == 2 and [g["frame_size"] for g in graph] == [[2048, 1024], [275, 183]]
    assert graph[0]["frame_graph"] and not graph[1]["frame_graph"]


def test_a_frame_graph_in_export_needs_no_torch(monkeypatch, tmp_path):
    """A board without torch: the frame graph copied into ./export from the workstation is found and
    run by --model; only an export would need torch."""
    import shutil

    from espnet_edge.errors import MissingDependency
    from espnet_edge.host import backend
    from espnet_edge.host.export.pipeline import ensure_onnx
    from espnet_edge.zoo import get_model

    entry = get_model(MODEL)
    made = ensure_onnx(entry, size=SIZE, frame_size=(2048, 1024), frame_dtype="uint8", trt_version="10")
    (tmp_path / "export").mkdir()
    shutil.copy(made, str(tmp_path / "export" / os.path.basename(made)))

    def no_torch(what):
        raise MissingDependency("{} needs torch".format(what))

    monkeypatch.setattr(backend, "_need_torch", no_torch)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ESPNET_EDGE_CACHE", str(tmp_path / "empty-cache"))
    frame = read_image(list_images([CITYSCAPES_IMAGES])[0])
    router = choice_mod.open_segmenter(resolve(model=MODEL, size=SIZE), frame)
    try:
        assert router.choice["path"] == str(tmp_path / "export" / os.path.basename(made))
    finally:
        router.close()
    with pytest.raises(MissingDependency):  # another size would need an export: torch
        backend.export_on_demand(entry, size=SIZE, frame_size=(640, 320), frame_dtype="uint8", trt_version="10")
