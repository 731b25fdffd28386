"""demo, headless: a real mp4v clip of Cityscapes frames and photos through the real network
(torch and ONNX Runtime backends), saved as video and PNG frames, overlay colours checked."""

import json
import os

import cv2
import numpy as np
import pytest

from conftest import CITYSCAPES_IMAGES, PHOTOS, run_main, spawn_cli
from espnet_edge.apps import demo
from espnet_edge.apps.sources import open_source
from espnet_edge.visualize import classes_present, draw_legend, legend_box, outline_dark_classes, palette_array

MODEL = "espnet-c-q3"
SIZE = (512, 256)
FRAME = (640, 320)
BACKENDS = ("torch", "onnxruntime")


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """2 Cityscapes frames + 2 photos, resized to 640x320, written with OpenCV (mp4v)."""
    frames = [cv2.resize(cv2.imread(os.path.join(CITYSCAPES_IMAGES, n)), FRAME, interpolation=cv2.INTER_AREA)
              for n in sorted(os.listdir(CITYSCAPES_IMAGES))]
    frames += [cv2.resize(cv2.imread(os.path.join(PHOTOS, n)), FRAME, interpolation=cv2.INTER_AREA)
               for n in ("sample1.jpg", "sample3.jpg")]
    path = str(tmp_path_factory.mktemp("clip") / "clip.mp4")
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), 10, FRAME)
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path, len(frames)


def decoded_frames(path):
    capture = cv2.VideoCapture(path)
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    return frames


@pytest.fixture(scope="module")
def onnx_file(export_once):
    return export_once(MODEL, SIZE)


@pytest.fixture(scope="module", params=BACKENDS)
def segmenter(request, onnx_file):
    from espnet_edge.backends import open_runner
    from espnet_edge.runtime.segmenter import Segmenter

    if request.param == "torch":
        runner = open_runner(backend="torch", model=MODEL, size=SIZE, threads=1)
    else:
        runner = open_runner(backend="onnxruntime", onnx=onnx_file, threads=1)
    seg = Segmenter(runner)
    yield seg
    seg.close()


def widest_hud_box(shape, label):
    """The HUD's box (as draw_hud returns it) with the widest figures a frame of these runs can show."""
    stages = dict((stage, 9999.9) for stage in ("preprocess", "compute", "postprocess", "render"))
    return demo.draw_hud(np.zeros(shape, np.uint8), demo.hud_lines(9999.9, 99999.9, 9999.0, label, 99999.0, stages))


def drawn_pixels(shape, draw):
    """Pixels ``draw(canvas)`` changes, seen on two constant canvases (an anti-aliased text pixel may
    equal one of them)."""
    drawn = np.zeros(shape[:2], bool)
    for value in (7, 201):
        canvas = np.full(shape, value, np.uint8)
        draw(canvas)
        drawn |= (canvas != value).any(axis=2)
    return drawn


def decorations(shape, mask, info, label):
    """Pixels under the legend, the HUD or the outlines of dark classes: the boxes from the code that
    draws them, the outlines as outline_dark_classes draws them."""
    covered = np.zeros(shape[:2], bool)
    present = classes_present(mask, len(info.classes))
    for box in (legend_box(shape, mask, info.classes), widest_hud_box(shape, label)):
        if box is not None:
            x0, y0, x1, y1 = box
            covered[y0:y1 + 1, x0:x1 + 1] = True
    return covered | drawn_pixels(shape, lambda canvas: outline_dark_classes(canvas, mask, info.palette, present))


def classes_shown(image, frame, palette, alpha=0.5):
    """The class whose palette colour, blended over ``frame`` at ``alpha``, is nearest each pixel."""
    colours = palette_array(palette)[None].astype(np.float32)
    blends = frame[:, None, :].astype(np.float32) * (1 - alpha) + colours * alpha
    return np.abs(image[:, None, :].astype(np.float32) - blends).sum(axis=2).argmin(axis=1)


@pytest.mark.parametrize("frame_size", [FRAME, (2048, 1024), (320, 180), (160, 90)])
def test_legend_and_hud_draw_only_inside_their_boxes(frame_size):
    """The legend inside the frame covers exactly legend_box; a frame too small for it keeps every pixel
    and gets the legend in a panel beside it (legend_box then lies in the panel)."""
    from espnet_edge.zoo import CITYSCAPES_CLASSES, CITYSCAPES_PALETTE

    shape = (frame_size[1], frame_size[0], 3)
    hud = demo.hud_lines(12.5, 80.25, 1300.5, "espnet-c-q3 / onnxruntime", 120.0, {"compute": 70.0})
    x0, y0, x1, y1 = demo.draw_hud(np.zeros(shape, np.uint8), hud)
    drawn = drawn_pixels(shape, lambda canvas: demo.draw_hud(canvas, hud))
    assert drawn[y0:y1, x0:x1].all()  # a black panel fills the box
    drawn[y0:y1 + 1, x0:x1 + 1] = False
    assert not drawn.any(), "HUD drawn outside the box its code gives"
    rng = np.random.RandomState(0)
    for classes_in_mask in (1, 5, 19):
        mask = rng.randint(0, classes_in_mask, size=shape[:2]).astype(np.uint8)
        x0, y0, x1, y1 = legend_box(shape, mask, CITYSCAPES_CLASSES)
        drawn = None
        for value in (7, 201):  # two canvases: an anti-aliased text pixel may equal one of them
            out = draw_legend(np.full(shape, value, np.uint8), mask, CITYSCAPES_CLASSES, CITYSCAPES_PALETTE)
            assert out.shape[0] >= shape[0] and x1 < out.shape[1] and y1 < out.shape[0]
            changed = (out != value).any(axis=2)
            drawn = changed if drawn is None else drawn | changed
        if out.shape[:2] != shape[:2]:  # the panel beside the frame: the frame itself untouched
            assert x0 >= shape[1] and not drawn[:shape[0], :shape[1]].any()
            continue
        assert drawn[y0:y1, x0:x1].all()
        drawn[y0:y1 + 1, x0:x1 + 1] = False
        assert not drawn.any(), "legend drawn outside the box its code gives"


@pytest.mark.slow
def test_every_frame_processed_saved_and_coloured(tmp_path, clip, segmenter):
    path, count = clip
    seen = []
    label = "{} / {}".format(segmenter.info.name, segmenter.runner.backend)
    frames_dir = str(tmp_path / "frames")
    result = demo.run_demo(segmenter, open_source(path), save=frames_dir, display=False, alpha=0.5, label=label,
                           on_frame=lambda i, frame, mask, image: seen.append((i, mask)))
    assert result.frames == count and [i for i, _ in seen] == list(range(count))
    assert result.reason == "end of input" and not result.lost and result.saved == frames_dir
    pngs = sorted(os.listdir(frames_dir))
    assert pngs == ["frame_{:06d}.png".format(i) for i in range(count)]

    inputs = decoded_frames(path)
    colours = palette_array(segmenter.info.palette).astype(np.float32)
    for index, frame in enumerate(inputs):
        saved = cv2.imread(os.path.join(frames_dir, pngs[index]))
        assert saved.shape == frame.shape
        mask = segmenter.segment(frame)  # recompute the class map with the same runner
        assert np.array_equal(mask, seen[index][1])
        expected = np.floor(frame.astype(np.float32) * 0.5 + colours[mask] * 0.5 + 0.5)
        free = ~decorations(frame.shape, mask, segmenter.info, label)
        # outside legend and HUD, every pixel is the frame blended with its class's colour, and that
        # colour is the mask's class there (not another class's)
        diff = np.abs(saved.astype(np.float32) - expected)[free]
        assert diff.max() <= 1.0, "overlay pixel off the palette blend by {}".format(diff.max())
        shown = classes_shown(saved[free], frame[free], segmenter.info.palette)
        assert np.array_equal(shown, mask[free])
        assert len(np.unique(mask[free])) >= 2

    video = str(tmp_path / "out.mp4")
    rendered = []
    result = demo.run_demo(segmenter, open_source(path), save=video, display=False, label=label,
                           on_frame=lambda i, frame, mask, image: rendered.append((image, mask)))
    assert result.saved == video and sorted(os.listdir(str(tmp_path))) == ["frames", "out.mp4"]  # no temp left
    written = decoded_frames(video)
    assert len(written) == count and all(w.shape == (FRAME[1], FRAME[0], 3) for w in written)
    for (image, mask), back in zip(rendered, written):  # mp4v is lossy: the same picture, approximately
        free = ~decorations(image.shape, mask, segmenter.info, label)
        assert np.abs(image.astype(np.float32) - back)[free].mean() < 8.0


@pytest.mark.slow
def test_interrupt_keeps_a_finalised_video(tmp_path, clip, segmenter):
    path, _count = clip

    def stop_after_two(index, frame, mask, image):
        if index == 1:
            raise KeyboardInterrupt  # what Ctrl-C raises in the main thread

    video = str(tmp_path / "cut.mp4")
    stats = str(tmp_path / "stats.csv")
    result = demo.run_demo(segmenter, open_source(path), save=video, display=False, record_stats=stats,
                           on_frame=stop_after_two)
    assert result.reason == "interrupted" and result.frames == 2
    assert len(decoded_frames(video)) == 2
    lines = open(stats).read().splitlines()
    assert lines[0].startswith("frame,source_frame,latency_ms,fps,glass_to_glass_ms,decode_ms,preprocess_ms,"
                               "h2d_ms,compute_ms,d2h_ms,postprocess_ms,render_ms,host_ms,host_cpu_ms")
    assert len(lines) == 3
    rows = [dict(zip(lines[0].split(","), line.split(","))) for line in lines[1:]]
    for row in rows:  # CPU time can only be spent while the stages ran: at most their wall time (+ clock steps)
        assert 0.0 < float(row["host_cpu_ms"]) <= float(row["host_ms"]) + 1.0
    assert sorted(os.listdir(str(tmp_path))) == ["cut.mp4", "stats.csv"]


@pytest.mark.slow
def test_lost_live_source_stops_cleanly(tmp_path, clip, segmenter):
    """A recording read as a live camera: when reads fail mid-run the demo stops and keeps the video."""
    path, count = clip
    video = str(tmp_path / "live.mp4")
    result = demo.run_demo(segmenter, open_source(path, live=True), save=video, display=False)
    assert result.lost and "stopped delivering frames" in result.reason
    assert 1 <= result.frames <= count and result.frames + result.dropped == count
    assert len(decoded_frames(video)) == result.frames
    assert "saved {} ({} frames)".format(video, result.frames) in result.line()


@pytest.mark.slow
def test_image_folder_of_mixed_sizes_to_video(tmp_path, segmenter):
    video = str(tmp_path / "photos.mp4")
    result = demo.run_demo(segmenter, open_source(PHOTOS), save=video, display=False, max_frames=3)
    assert result.frames == 3 and result.reason == "--max-frames 3 reached"
    height, width = cv2.imread(os.path.join(PHOTOS, "sample1.jpg")).shape[:2]  # 849x565
    written = decoded_frames(video)
    assert len(written) == 3  # every frame at the first one's size, made even for the encoder
    assert all(w.shape == (height - height % 2, width - width % 2, 3) for w in written)


@pytest.mark.slow
def test_cli_headless_run_and_errors(tmp_path, clip, onnx_file):
    path, count = clip
    stats = tmp_path / "stats.json"
    out = tmp_path / "cli.mp4"
    proc = run_main("demo", "--onnx", onnx_file, "--threads", "1", "--source", path, "--no-display",
                    "--save", out, "--record-stats", stats, "--alpha", "0.6")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("demo: {} frames, mean ".format(count)) and "end of input" in proc.stdout
    data = json.loads(stats.read_text())
    assert [row["frame"] for row in data["frames"]] == list(range(count))
    assert all(row["latency_ms"] > 0 and row["fps"] > 0 for row in data["frames"])
    assert data["summary"]["frames"] == count and len(decoded_frames(str(out))) == count

    env = {"DISPLAY": "", "WAYLAND_DISPLAY": ""}
    for args, message in (
            (("--source", path), "pass --no-display"),
            (("--source", str(tmp_path / "nope.mp4"), "--no-display"), "does not exist"),
            (("--source", "/dev/video97", "--no-display"), "no camera at /dev/video97"),
            (("--source", path, "--no-display", "--save", str(tmp_path / "x.gif")), "give a video file"),
            (("--source", path, "--no-display", "--record-stats", str(tmp_path / "s.txt")), ".json or .csv")):
        proc = run_main("demo", "--onnx", onnx_file, *args, env=env)
        assert proc.returncode == 2, (args, proc.stderr)
        assert message in proc.stderr and "Traceback" not in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1


def test_a_truncated_image_in_a_folder_is_skipped_named_and_the_run_ends_non_zero(tmp_path, onnx_file):
    """The others are still shown and saved; the exit says how many could not be, and which first."""
    folder = tmp_path / "frames"
    folder.mkdir()
    names = sorted(os.listdir(CITYSCAPES_IMAGES))[:2]
    for name in names:
        (folder / name).write_bytes(open(os.path.join(CITYSCAPES_IMAGES, name), "rb").read())
    whole = open(os.path.join(PHOTOS, "sample1.jpg"), "rb").read()
    bad = folder / "frankfurt_000000_000300_leftImg8bit.jpg"   # sorts between the two good frames
    bad.write_bytes(whole[:len(whole) // 3])
    out = tmp_path / "frames.mp4"
    proc = run_main("demo", "--onnx", onnx_file, "--threads", "1", "--source", folder, "--no-display",
                    "--save", out)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert "warning: skipped {}".format(bad) in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].endswith(
        "error: 1 of 3 images could not be shown: cannot decode image {} (not an image, or truncated); "
        "the others were shown and saved".format(bad))
    assert "saved {} (2 frames)".format(out) in proc.stdout and len(decoded_frames(str(out))) == 2


def test_display_detection():
    assert "DISPLAY" in demo.display_problem(environ={}, platform="linux", gui=True)
    assert "no GUI support" in demo.display_problem(environ={"DISPLAY": ":0"}, platform="linux", gui=False)
    assert demo.display_problem(environ={"WAYLAND_DISPLAY": "wayland-0"}, platform="linux", gui=True) is None
    assert demo.display_problem(environ={}, platform="win32", gui=True) is None


def test_gpu_frequency_on_a_simulated_tx2(tmp_path, monkeypatch):
    """A TX2-like devfreq tree (the real sysfs layout, see shared/jetson/sysfs.md) stands in for the board."""
    entry = tmp_path / "sys" / "class" / "devfreq" / "17000000.gp10b"
    (entry / "device" / "of_node").mkdir(parents=True)
    (entry / "device" / "of_node" / "name").write_text("gp10b")
    (entry / "cur_freq").write_text("1134750000\n")
    (entry / "available_frequencies").write_text("114750000 216750000 1134750000 1300500000\n")
    (entry / "min_freq").write_text("114750000\n")
    (entry / "max_freq").write_text("1300500000\n")
    monkeypatch.setenv("ESPNET_EDGE_SYSFS_ROOT", str(tmp_path))
    read = demo.gpu_freq_reader()
    assert read() == pytest.approx(1134.75)
    (entry / "cur_freq").write_text("216750000\n")
    assert read() == pytest.approx(216.75)
    assert "GPU 217 MHz" in demo.hud_lines(10.0, 20.0, read())
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("ESPNET_EDGE_SYSFS_ROOT", str(empty))
    assert demo.gpu_freq_reader()() is None
    assert not any(line.startswith("GPU") for line in demo.hud_lines(10.0, 20.0, None))


@pytest.mark.slow
@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM"])
def test_cli_signal_stops_cleanly_and_keeps_the_video(tmp_path, onnx_file, signame):
    import signal
    import time

    folder = tmp_path / "frames"
    folder.mkdir()
    frame = os.path.join(CITYSCAPES_IMAGES, sorted(os.listdir(CITYSCAPES_IMAGES))[0])
    for i in range(200):  # long enough that the signal comes before the end
        os.symlink(frame, str(folder / "f{:03d}.png".format(i)))
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    video = out_dir / "run.mp4"
    proc = spawn_cli("demo", "--onnx", onnx_file, "--threads", "1", "--source", folder, "--no-display",
                     "--save", video)
    deadline = time.time() + 120
    while not os.listdir(str(out_dir)) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.2)  # wait until the first frame is being written (not a timing assertion)
    time.sleep(1.0)
    proc.send_signal(getattr(signal, signame))
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    assert "stopped: interrupted" in stdout and "saved " + str(video) in stdout
    saved = int(stdout.split("saved {} (".format(video))[1].split()[0])
    assert 1 <= saved < 200
    assert len(decoded_frames(str(video))) == saved
    assert os.listdir(str(out_dir)) == ["run.mp4"]  # the temporary file was renamed, nothing else left


@pytest.mark.gpu
def test_demo_on_tensorrt(tmp_path, clip, onnx_file):
    pytest.importorskip("tensorrt", reason="TensorRT is not installed here (NVIDIA GPU / Jetson only)")
    from espnet_edge.backends import open_runner
    from espnet_edge.runtime.segmenter import Segmenter

    path, count = clip
    reference = Segmenter(open_runner(backend="onnxruntime", onnx=onnx_file, threads=1))
    seg = Segmenter(open_runner(backend="tensorrt", onnx=onnx_file))
    masks = []
    try:
        result = demo.run_demo(seg, open_source(path), save=str(tmp_path / "trt.mp4"), display=False,
                               on_frame=lambda i, frame, mask, image: masks.append((frame, mask)))
        assert result.frames == count and len(decoded_frames(str(tmp_path / "trt.mp4"))) == count
        for frame, mask in masks:
            assert (reference.segment(frame) == mask).mean() >= 0.99
    finally:
        seg.close()
        reference.close()
