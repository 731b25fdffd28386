"""Headless viewing: the MJPEG server read by a real HTTP client over 127.0.0.1 (standalone and
while the demo runs), --output parsing, one-line errors (port in use, GStreamer missing)."""

import http.client
import os
import socket
import threading
import time

import cv2
import numpy as np
import pytest

from conftest import CITYSCAPES_IMAGES, run_main
from espnet_edge.apps import demo
from espnet_edge.apps.mjpeg import BOUNDARY, MjpegServer
from espnet_edge.apps.sources import open_source
from espnet_edge.apps.streams import open_sinks, parse_output, rtp_pipeline
from espnet_edge.errors import UserError

MODEL = "espnet-c-q3"


def _free_port():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def read_parts(port, count, timeout=30.0, connected=None):
    """A real HTTP client on /stream: -> the first ``count`` JPEG parts, decoded (BGR)."""
    deadline = time.time() + timeout
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
            conn.request("GET", "/stream")
            response = conn.getresponse()
            break
        except (ConnectionRefusedError, OSError):
            if time.time() > deadline:
                raise
            time.sleep(0.05)
    assert response.status == 200
    assert response.getheader("Content-Type") == "multipart/x-mixed-replace; boundary=" + BOUNDARY
    if connected is not None:
        connected.set()
    images = []
    while len(images) < count:
        line = response.fp.readline()
        if not line:
            break  # the server closed the stream
        if line.strip() != ("--" + BOUNDARY).encode():
            continue
        headers = {}
        while True:
            header = response.fp.readline().strip()
            if not header:
                break
            key, value = header.decode().split(":", 1)
            headers[key.strip().lower()] = value.strip()
        assert headers["content-type"] == "image/jpeg"
        data = response.fp.read(int(headers["content-length"]))
        images.append(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR))
    conn.close()
    return images


def test_server_streams_what_is_written_to_a_real_http_client():
    server = MjpegServer("127.0.0.1", 0)
    try:
        page = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        page.request("GET", "/")
        body = page.getresponse().read().decode()
        assert '<img src="/stream"' in body
        name = sorted(os.listdir(CITYSCAPES_IMAGES))[0]
        street = cv2.resize(cv2.imread(os.path.join(CITYSCAPES_IMAGES, name)), (320, 160),
                            interpolation=cv2.INTER_AREA)
        frames = [street, street[:, ::-1].copy(), (street // 2).astype(np.uint8)]
        got = []
        connected = threading.Event()
        client = threading.Thread(target=lambda: got.extend(read_parts(server.port, 3, connected=connected)))
        client.start()
        assert connected.wait(10)
        while server.clients < 1:
            time.sleep(0.01)
        for frame in frames:
            server.write(frame)
            time.sleep(0.3)  # a live source's pace: the client takes every frame
        client.join(20)
        assert len(got) == 3
        for sent, back in zip(frames, got):
            assert back.shape == sent.shape
            assert np.abs(back.astype(int) - sent.astype(int)).mean() < 4  # JPEG quality 80
        snap = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        snap.request("GET", "/snapshot.jpg")
        response = snap.getresponse()
        assert response.status == 200 and response.getheader("Content-Type") == "image/jpeg"
        missing = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        missing.request("GET", "/nothing")
        assert missing.getresponse().status == 404
    finally:
        server.close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.port), timeout=2).close()


def test_port_in_use_is_one_line():
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    port = holder.getsockname()[1]
    try:
        with pytest.raises(UserError) as err:
            MjpegServer("127.0.0.1", port, url="http://127.0.0.1:{}".format(port))
        assert "port {} is in use".format(port) in str(err.value) and "\n" not in str(err.value)
    finally:
        holder.close()


@pytest.mark.parametrize("text, kind", [("http://0.0.0.0:8080", "http"), ("rtp://192.168.1.5:5000", "rtp"),
                                        ("rtsp://server:8554/live", "rtsp"), ("display", "display"),
                                        ("out.mp4", "file")])
def test_parse_output(text, kind):
    assert parse_output(text)[0] == kind


@pytest.mark.parametrize("text", ["http://0.0.0.0", "udp://1.2.3.4:5", "http://host:99999", "rtp://:5000"])
def test_bad_outputs_are_one_line(text):
    with pytest.raises(UserError) as err:
        parse_output(text)
    assert "\n" not in str(err.value) and text in str(err.value)


def test_rtp_without_gstreamer_names_the_pipeline():
    with pytest.raises(UserError) as err:
        open_sinks(["rtp://127.0.0.1:5000"], 30, jetson=False, flags={"gstreamer": False})
    assert rtp_pipeline("127.0.0.1", 5000) in str(err.value) and "\n" not in str(err.value)
    assert "udpsink host=127.0.0.1 port=5000" in rtp_pipeline("127.0.0.1", 5000)
    assert "nvv4l2h264enc" in rtp_pipeline("127.0.0.1", 5000, jetson=True)


@pytest.fixture(scope="module")
def segmenter(tmp_path_factory):
    from espnet_edge.backends import open_runner
    from espnet_edge.host.export.pipeline import export_model
    from espnet_edge.runtime.segmenter import Segmenter
    from espnet_edge.zoo import get_model

    onnx = export_model(get_model(MODEL), size=(256, 128), out_dir=str(tmp_path_factory.mktemp("o")))["onnx"]
    return Segmenter(open_runner(backend="onnxruntime", onnx=onnx, threads=1))


@pytest.mark.slow
def test_demo_serves_the_overlay_while_it_runs(tmp_path, segmenter):
    """demo --output http://127.0.0.1:PORT on a folder: a client reads frames while the demo runs;
    the served frames are the saved overlay frames; the server stops with the demo."""
    port = _free_port()
    got, connected = [], threading.Event()
    client = threading.Thread(target=lambda: got.extend(read_parts(port, 2, connected=connected)))
    client.daemon = True
    client.start()

    def wait_for_viewer(index, frame, mask, image):
        if index == 0:
            assert connected.wait(20), "client never connected"
        time.sleep(0.3)  # the client takes each frame before the next one replaces it

    saved = str(tmp_path / "frames")
    result = demo.run_demo(segmenter, open_source(CITYSCAPES_IMAGES), save=saved, display=False,
                           outputs=["http://127.0.0.1:{}".format(port)], on_frame=wait_for_viewer,
                           record_stats=str(tmp_path / "stats.json"))
    client.join(20)
    assert result.frames == 2 and len(got) >= 1
    assert any("http://127.0.0.1:{}".format(port) in o for o in result.outputs)
    last = cv2.imread(os.path.join(saved, "frame_000001.png"))
    assert got[-1].shape == last.shape
    assert np.abs(got[-1].astype(int) - last.astype(int)).mean() < 6
    import json

    summary = json.load(open(str(tmp_path / "stats.json")))["summary"]
    assert summary["mean_glass_to_glass_ms"] > 0
    assert summary["stages_ms"]["compute"]["count"] == 2 and summary["stages_ms"]["render"]["mean"] > 0
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


@pytest.mark.slow
def test_cli_port_in_use_and_headless_alias(tmp_path):
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    port = holder.getsockname()[1]
    try:
        proc = run_main("demo", "--model", MODEL, "--size", "256x128", "--backend", "torch",
                        "--source", CITYSCAPES_IMAGES, "--headless", "--output",
                        "http://127.0.0.1:{}".format(port))
    finally:
        holder.close()
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "port {} is in use".format(port) in proc.stderr


def test_low_latency_capture_options():
    from espnet_edge.apps.sources import CaptureOptions, capture_plan, csi_pipeline, parse_source, rtsp_jetson_pipeline
    from espnet_edge.cli.cmd_demo import camera_size_for
    from espnet_edge.runtime.model_info import ModelInfo
    from espnet_edge.zoo import get_model

    assert "latency=50 drop-on-latency=true ! rtph264depay" in rtsp_jetson_pipeline("rtsp://cam/1", 50, "h264", True)
    assert "drop-on-latency" not in rtsp_jetson_pipeline("rtsp://cam/1", 50, "h264", False)
    assert csi_pipeline(0, 1024, 512, 30, 0, sensor_mode=4).startswith("nvarguscamerasrc sensor-id=0 sensor-mode=4 ! ")
    options = CaptureOptions(rtsp_latency_ms=0, rtsp_drop_on_latency=True)
    target, api = capture_plan(parse_source("rtsp://cam/1"), options, True, {"gstreamer": True, "ffmpeg": True})
    assert api == "CAP_GSTREAMER" and "latency=0 drop-on-latency=true" in target
    entry = get_model("espnet-q8")
    assert camera_size_for(ModelInfo.from_zoo(entry)) == (1024, 512)
    assert camera_size_for(ModelInfo.from_zoo(entry, fused=("pre",), frame_size=(1280, 720))) == (1280, 720)
