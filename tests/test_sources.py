"""--source parsing, capture pipelines, opening errors and the capture thread (real OpenCV, real frames)."""

import os

import cv2
import numpy as np
import pytest

from conftest import CITYSCAPES_IMAGES, PHOTOS
from espnet_edge.apps import sources
from espnet_edge.apps.frame_queues import END, FrameGrabber, LatestFrameSlot, OrderedFrameQueue
from espnet_edge.apps.sources import (CSI, FOLDER, IMAGE, RTSP, V4L2, VIDEO, CaptureOptions, capture_plan, open_source,
                                      parse_source)
from espnet_edge.errors import UserError

ALL_FLAGS = {"gstreamer": True, "ffmpeg": True, "v4l2": True, "gui": False}
NO_GST = dict(ALL_FLAGS, gstreamer=False)


def cityscapes_frames(size=(256, 128)):
    names = sorted(os.listdir(CITYSCAPES_IMAGES))
    return [cv2.resize(cv2.imread(os.path.join(CITYSCAPES_IMAGES, n)), size, interpolation=cv2.INTER_AREA)
            for n in names]


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    """A real mp4v video: the 2 Cityscapes frames and 4 photos at 256x128, 6 frames."""
    frames = cityscapes_frames()
    for name in sorted(os.listdir(PHOTOS))[:4]:
        frames.append(cv2.resize(cv2.imread(os.path.join(PHOTOS, name)), (256, 128)))
    path = str(tmp_path_factory.mktemp("video") / "clip.mp4")
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), 10, (256, 128))
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path, len(frames)


# ---- parsing ----

@pytest.mark.parametrize("text,kind,attr,value", [
    ("csi://0", CSI, "sensor_id", 0),
    ("CSI://12", CSI, "sensor_id", 12),
    ("/dev/video0", V4L2, "device", "/dev/video0"),
    ("/dev/video3", V4L2, "index", 3),
    ("2", V4L2, "device", "/dev/video2"),
    ("rtsp://10.0.0.5:8554/cam", RTSP, "url", "rtsp://10.0.0.5:8554/cam"),
    ("http://host/stream.mjpg", RTSP, "url", "http://host/stream.mjpg"),
    ("clip.mp4", VIDEO, "path", "clip.mp4"),
    ("frame.PNG", IMAGE, "path", "frame.PNG"),
])
def test_parse_source_kinds(text, kind, attr, value):
    spec = parse_source(text)
    assert spec.kind == kind
    assert getattr(spec, attr) == value
    assert spec.live == (kind in (CSI, V4L2, RTSP))


def test_parse_source_folder_is_a_folder():
    spec = parse_source(CITYSCAPES_IMAGES)
    assert spec.kind == FOLDER and not spec.live


@pytest.mark.parametrize("text", ["csi://", "csi://front", "ftp://x/y", "  "])
def test_parse_source_rejects_bad_strings(text):
    with pytest.raises(UserError):
        parse_source(text)


# ---- pipelines ----

def test_csi_pipeline_string():
    text = sources.csi_pipeline(1, 1920, 1080, 60, flip_method=2)
    elements = [e.strip() for e in text.split("!")]
    assert elements[0] == "nvarguscamerasrc sensor-id=1"
    assert elements[1] == "video/x-raw(memory:NVMM), width=1920, height=1080, framerate=60/1, format=NV12"
    assert elements[2] == "nvvidconv flip-method=2"
    assert elements[3] == "video/x-raw, format=BGRx"
    assert elements[4] == "videoconvert"
    assert elements[5] == "video/x-raw, format=BGR"
    assert elements[6].startswith("appsink") and "drop=1" in elements[6]


def test_v4l2_jetson_pipeline_with_and_without_caps():
    full = sources.v4l2_jetson_pipeline("/dev/video1", 640, 480, 30)
    assert full.startswith("v4l2src device=/dev/video1 ! video/x-raw, width=640, height=480, framerate=30/1 ! nvvidconv")
    bare = sources.v4l2_jetson_pipeline("/dev/video0")
    assert bare.startswith("v4l2src device=/dev/video0 ! video/x-raw ! nvvidconv")
    for text in (full, bare):
        assert text.endswith("appsink drop=1 max-buffers=1 sync=false")
        assert "format=BGR !" in text


@pytest.mark.parametrize("codec", ["h264", "h265"])
def test_rtsp_jetson_pipeline(codec):
    text = sources.rtsp_jetson_pipeline("rtsp://cam/live", latency_ms=100, codec=codec)
    # tcp-timeout: the same 10 s deadline as the FFmpeg path (sources.STREAM_TIMEOUT_S), in microseconds
    assert text.startswith("rtspsrc location=rtsp://cam/live latency=100 tcp-timeout=10000000 ! rtp{0}depay ! "
                           "{0}parse ! nvv4l2decoder ! nvvidconv".format(codec))
    with pytest.raises(UserError):
        sources.rtsp_jetson_pipeline("rtsp://cam/live", codec="mpeg2")


def test_capture_plan_per_source_and_machine():
    opts = CaptureOptions()
    target, api = capture_plan(parse_source("csi://0"), opts, jetson=True, flags=ALL_FLAGS)
    assert api == "CAP_GSTREAMER" and "sensor-id=0" in target and "width=1280, height=720" in target
    target, api = capture_plan(parse_source("/dev/video0"), opts, jetson=True, flags=ALL_FLAGS)
    assert api == "CAP_GSTREAMER" and target.startswith("v4l2src device=/dev/video0")
    assert capture_plan(parse_source("/dev/video0"), opts, jetson=True, flags=NO_GST) == ("/dev/video0", "CAP_V4L2")
    assert capture_plan(parse_source("1"), opts, jetson=False, flags=ALL_FLAGS) == ("/dev/video1", "CAP_V4L2")
    target, api = capture_plan(parse_source("rtsp://h/s"), opts, jetson=True, flags=ALL_FLAGS)
    assert api == "CAP_GSTREAMER" and "nvv4l2decoder" in target
    assert capture_plan(parse_source("rtsp://h/s"), opts, jetson=False, flags=ALL_FLAGS) == ("rtsp://h/s", "CAP_FFMPEG")
    assert capture_plan(parse_source("a.mp4"), opts, jetson=False, flags=ALL_FLAGS) == ("a.mp4", "CAP_FFMPEG")


def test_capture_plan_csi_needs_jetson_and_gstreamer():
    with pytest.raises(UserError, match="need a Jetson"):
        capture_plan(parse_source("csi://0"), CaptureOptions(), jetson=False, flags=ALL_FLAGS)
    with pytest.raises(UserError, match="no GStreamer support"):
        capture_plan(parse_source("csi://0"), CaptureOptions(), jetson=True, flags=NO_GST)
    with pytest.raises(UserError, match="neither GStreamer nor FFmpeg"):
        capture_plan(parse_source("rtsp://h/s"), CaptureOptions(), jetson=False,
                     flags=dict(NO_GST, ffmpeg=False))


def test_this_opencv_build_flags_are_read():
    flags = sources.opencv_build_flags()
    info = cv2.getBuildInformation()
    gst_line = [l for l in info.splitlines() if l.strip().startswith("GStreamer:")]
    assert flags["gstreamer"] == (bool(gst_line) and "YES" in gst_line[0])
    assert set(flags) == {"gstreamer", "ffmpeg", "v4l2", "gui"}


# ---- opening: real files, real errors ----

def test_open_source_errors_say_which_and_why(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        open_source(str(tmp_path / "missing.mp4"))
    with pytest.raises(UserError, match="image .*does not exist"):
        open_source(str(tmp_path / "missing.png"))
    with pytest.raises(UserError, match="no camera at /dev/video97"):
        open_source("/dev/video97")
    with pytest.raises(UserError, match="no images"):
        open_source(str(tmp_path))
    not_video = tmp_path / "notes.mp4"
    not_video.write_text("not a video")
    with pytest.raises(UserError, match="cannot open video"):
        open_source(str(not_video))


@pytest.mark.skipif(sources.opencv_build_flags()["gstreamer"], reason="this OpenCV has GStreamer")
def test_csi_on_this_machine_fails_with_a_reason():
    with pytest.raises(UserError) as info:
        open_source("csi://0", CaptureOptions(jetson=True))
    assert "GStreamer" in str(info.value) and "cv2.getBuildInformation()" in str(info.value)


def test_video_file_every_frame_in_order(video):
    path, count = video
    source = open_source(path)
    assert not source.live and source.frame_count == count
    grabber = FrameGrabber(source, queue_size=2).start()
    got = []
    while True:
        item = grabber.get(timeout=5)
        assert item is not None, "grabber stalled"
        if item is END:
            break
        got.append(item)
    grabber.stop()
    assert [i for i, _ in got] == list(range(count))
    assert grabber.end_reason == "end" and grabber.dropped == 0
    assert all(f.shape == (128, 256, 3) for _, f in got)
    # frame 0 is the first Cityscapes frame (mp4v is lossy: compare loosely)
    first = cityscapes_frames()[0]
    assert np.abs(got[0][1].astype(int) - first.astype(int)).mean() < 12


def test_image_folder_and_single_image_sources():
    folder = open_source(PHOTOS)
    assert folder.frame_count == 8 and not folder.live
    shapes = set()
    frame = folder.read()
    while frame is not None:
        shapes.add(frame.shape)
        frame = folder.read()
    assert len(shapes) > 1  # photos keep their own sizes
    single = open_source(os.path.join(PHOTOS, "sample1.jpg"))
    assert single.read() is not None and single.read() is None


def test_live_source_ends_as_lost_camera(video):
    """A recording read as if it were a camera: when reads fail the grabber reports a lost source."""
    path, _count = video
    grabber = FrameGrabber(open_source(path, live=True)).start()
    seen = []
    while True:
        item = grabber.get(timeout=5)
        assert item is not None
        if item is END:
            break
        seen.append(item[0])
    grabber.stop()
    assert grabber.end_reason == "lost"
    assert seen == sorted(seen) and len(seen) + grabber.dropped == grabber.frames_read


def test_corrupt_image_in_folder_is_skipped_and_named(tmp_path):
    cv2.imwrite(str(tmp_path / "a.png"), cityscapes_frames()[0])
    (tmp_path / "b.png").write_bytes(b"\x89PNG broken")
    cv2.imwrite(str(tmp_path / "c.png"), cityscapes_frames()[1])
    source = open_source(str(tmp_path))
    grabber = FrameGrabber(source).start()
    frames = [grabber.get(timeout=5), grabber.get(timeout=5)]
    assert [index for index, _ in frames] == [0, 1] and grabber.get(timeout=5) is END
    assert (frames[1][1] == cityscapes_frames()[1]).all()   # c.png, after the one that does not decode
    grabber.stop()
    ((path, error),) = source.unreadable
    assert path == str(tmp_path / "b.png") and "cannot decode image" in str(error)


def test_a_single_image_that_does_not_decode_is_an_error(tmp_path):
    (tmp_path / "b.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(UserError, match="cannot decode image"):
        open_source(str(tmp_path / "b.png")).first_frame()


# ---- the buffers ----

def test_latest_slot_newest_frame_wins():
    slot = LatestFrameSlot()
    assert slot.get(timeout=0) is None
    for i in range(5):
        slot.put(i)
    assert slot.get(timeout=0) == 4 and slot.dropped == 4
    slot.put(5)
    slot.close()
    assert slot.get(timeout=0) == 5  # a frame waiting at close is still delivered
    assert slot.get(timeout=0) is END


def test_ordered_queue_blocks_and_keeps_order():
    import threading

    q = OrderedFrameQueue(size=2)
    stop = threading.Event()
    assert q.put(0) and q.put(1)
    stop.set()
    assert q.put(2, stop) is False  # full and asked to stop: gives up instead of dropping silently
    assert [q.get(timeout=0), q.get(timeout=0), q.get(timeout=0)] == [0, 1, None]
