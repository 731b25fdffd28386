"""A source's frame size (a file's first frame, kept; a camera's caps), what a CSI camera is asked for
(the VIC scales to the network size where it can), and --realtime: a recording handed over at its own
frame rate, checked by the frames' timestamps (a fake clock, and the lower bound every paced frame keeps)."""

import json
import os
import sys

import cv2
import numpy as np
import pytest

from conftest import CITYSCAPES_IMAGES, PHOTOS, run_cli
from espnet_edge.apps import demo
from espnet_edge.apps.frame_size import csi_plan, vic_problem
from espnet_edge.apps.frame_queues import END, FrameGrabber
from espnet_edge.apps.sources import CaptureOptions, capture_plan, csi_pipeline, open_source, parse_source
from espnet_edge.errors import UserError

ALL_FLAGS = {"gstreamer": True, "ffmpeg": True, "v4l2": True, "gui": False}


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    names = sorted(os.listdir(CITYSCAPES_IMAGES))
    frames = [cv2.resize(cv2.imread(os.path.join(CITYSCAPES_IMAGES, n)), (256, 128), interpolation=cv2.INTER_AREA)
              for n in names] * 3
    path = str(tmp_path_factory.mktemp("clip") / "clip.mp4")
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), 10, (256, 128))
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path, len(frames)


# ---- the CSI camera's size ----

def test_csi_camera_asks_the_vic_for_the_network_size():
    capture, scaled, note = csi_plan((1024, 512))
    assert capture == (1280, 720) and scaled == (1024, 512)
    assert "VIC (nvvidconv) scales it to 1024x512" in note
    options = CaptureOptions(width=capture[0], height=capture[1], out_width=scaled[0], out_height=scaled[1])
    pipeline, api = capture_plan(parse_source("csi://0"), options, jetson=True, flags=ALL_FLAGS)
    elements = [e.strip() for e in pipeline.split("!")]
    assert api == "CAP_GSTREAMER"
    assert elements[1] == "video/x-raw(memory:NVMM), width=1280, height=720, framerate=30/1, format=NV12"
    assert elements[2] == "nvvidconv flip-method=0"
    assert elements[3] == "video/x-raw, width=1024, height=512, format=BGRx"  # the VIC's output caps
    assert elements[-1].startswith("appsink")
    # --camera-size names the sensor mode captured; a rotating flip swaps what the VIC receives
    assert csi_plan((512, 1024), (1920, 1080), flip_method=1)[1] == (512, 1024)
    assert csi_plan((720, 1280), None, flip_method=3) == ((1280, 720), None, "the CSI camera delivers 720x1280 frames")
    # without an output size the pipeline is the one the demo always used
    assert csi_pipeline(0, 1280, 720, 30) == csi_pipeline(0, 1280, 720, 30, out_width=None, out_height=None)
    assert "width=" not in csi_pipeline(0, 1280, 720, 30).split("nvvidconv")[1]


@pytest.mark.parametrize("capture, target, words", [
    ((4096, 2160), (128, 64), "beyond the VIC's 1/16..16"),
    ((1280, 720), (1023, 512), "odd width"),
    ((1280, 720), (8, 8), "outside the VIC's 16..16384"),
    ((320, 240), (6144, 2048), "beyond the VIC's 1/16..16"),
])
def test_where_the_vic_cannot_scale_the_frame_graph_takes_the_native_size(capture, target, words):
    assert words in vic_problem(capture, target)
    got_capture, scaled, note = csi_plan(target, capture)
    assert got_capture == capture and scaled is None
    assert "cannot scale" in note and "frames stay {}x{}".format(*capture) in note
    assert vic_problem((1280, 720), (1024, 512)) is None


# ---- a file's first frame ----

def test_first_frame_is_read_once_and_still_delivered_first(clip):
    path, count = clip
    source = open_source(path)
    first = source.first_frame()
    assert source.frame_size() == (256, 128) and source.first_frame() is first
    frames = []
    frame = source.read()
    while frame is not None:
        frames.append(frame)
        frame = source.read()
    source.close()
    assert len(frames) == count and frames[0] is first
    folder = open_source(PHOTOS)
    assert folder.frame_size() == (849, 565) and folder.read().shape == (565, 849, 3)  # sample1 first
    assert folder.read().shape == (400, 1200, 3)


# ---- --realtime ----

class FakeClock(object):
    def __init__(self):
        self.now = 100.0
        self.sleeps = []

    def time(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


class FakeVideo(object):
    """A recording whose every read takes ``decode_s`` on the fake clock."""
    live = False
    name = "fake.mp4"

    def __init__(self, clock, frames, decode_s, fps=10.0):
        self.clock, self.left, self.decode_s, self.fps = clock, frames, decode_s, fps

    def read(self):
        if not self.left:
            return None
        self.left -= 1
        self.clock.now += self.decode_s
        return np.zeros((4, 4, 3), np.uint8)

    def close(self):
        pass


class Recorder(object):
    def __init__(self):
        self.items, self.dropped = [], 0

    def put(self, item, stop=None):
        self.items.append(item)
        return True

    def close(self, stop=None):
        self.items.append(END)


@pytest.mark.parametrize("decode_s", [0.02, 0.15])
def test_realtime_hands_each_frame_over_at_its_timestamp(decode_s):
    clock = FakeClock()
    grabber = FrameGrabber(FakeVideo(clock, 6, decode_s), timestamps=True, pace_fps=10, clock=clock.time,
                           sleep=clock.sleep)
    assert grabber.newest_only  # paced: the newest frame wins, as with a camera
    grabber.buffer = Recorder()
    grabber._run()
    items = grabber.buffer.items[:-1]
    assert [i for i, *_ in items] == list(range(6)) and grabber.end_reason == "end"
    t0 = 100.0 + decode_s  # the clip's time zero: when its first frame was read
    for index, _frame, captured, decode_ms in items:
        due = t0 + index / 10.0
        assert decode_ms == pytest.approx(decode_s * 1000.0)  # waiting is not decode time
        if decode_s < 0.1:
            assert captured == pytest.approx(due)  # handed over exactly on time
        else:
            assert captured >= due - 1e-9 and captured == pytest.approx(100.0 + (index + 1) * decode_s)
    assert (sum(clock.sleeps) > 0) == (decode_s < 0.1)


def test_realtime_demo_never_hands_a_frame_over_early(clip, small_onnx, tmp_path):
    from espnet_edge.backends import open_runner
    from espnet_edge.runtime.segmenter import Segmenter

    path, count = clip
    segmenter = Segmenter(open_runner(onnx=small_onnx, threads=1))
    stats = str(tmp_path / "paced.json")
    try:
        result = demo.run_demo(segmenter, open_source(path), display=False, record_stats=stats, realtime=True)
    finally:
        segmenter.close()
    data = json.load(open(stats))
    assert result.reason == "end of input" and not result.lost
    assert result.frames + result.dropped == count  # skipped frames are counted, as a camera's are
    assert "--realtime" in data["summary"]["glass_to_glass"]
    sources = [row["source_frame"] for row in data["frames"]]
    assert sources == sorted(sources)
    for row in data["frames"]:
        assert row["source_time_ms"] == pytest.approx(row["source_frame"] * 100.0)
        assert row["captured_ms"] >= row["source_time_ms"]  # never before the clip says it happened


def test_realtime_needs_a_frame_rate_and_says_so_before_any_work(small_onnx, tmp_path):
    with pytest.raises(UserError, match="has none"):
        demo.pace_for(open_source(PHOTOS), True)
    proc = run_cli("demo", "--model", "espnet-c-q3", "--size", "256x128", "--source", CITYSCAPES_IMAGES,
                   "--no-display", "--realtime", env={"ESPNET_EDGE_CACHE": str(tmp_path / "cache")})
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0
    assert "--realtime plays a video at its own frame rate" in proc.stderr
    assert not os.path.exists(str(tmp_path / "cache" / "export"))  # nothing exported first


def _nice_of_reader(source, pace_fps=None):
    """The nice value of the grabber's thread while it reads ``source``'s first frame."""
    seen = []

    class Probe(object):
        live, name, fps = source.live, source.name, source.fps

        def read(self):
            if not seen:
                seen.append(os.getpriority(os.PRIO_PROCESS, 0))  # Linux: the calling thread's own
            return source.read()

        def close(self):
            source.close()

    grabber = FrameGrabber(Probe(), pace_fps=pace_fps).start()
    while grabber.get(timeout=5) not in (END, None):
        pass
    grabber.stop()
    return seen[0]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a nice value per thread is Linux's")
def test_a_file_read_ahead_yields_the_cores_and_a_camera_does_not(clip):
    """Reading a file ahead of the pipeline runs at a background priority (it must not stall the
    runtime's threads on a busy CPU); a camera's reader, and a recording paced like one, keep the
    process's priority (their frames must not wait)."""
    base = os.getpriority(os.PRIO_PROCESS, 0)
    path, _count = clip
    assert _nice_of_reader(open_source(path)) == max(base, 10)
    assert _nice_of_reader(FakeVideo(FakeClock(), 2, 0.0)) == max(base, 10)
    live = FakeVideo(FakeClock(), 2, 0.0)
    live.live = True
    assert _nice_of_reader(live) == base
    assert _nice_of_reader(open_source(path), pace_fps=10) == base
    assert os.getpriority(os.PRIO_PROCESS, 0) == base  # the caller's thread is untouched
