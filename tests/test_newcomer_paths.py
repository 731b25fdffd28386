"""The paths a newcomer walks (issue 20's "Why" list), each as it was found: $ESPNET_EDGE_WEIGHTS naming
no folder, what to open for `demo --output`, a bad file in a batch, --size checked before any export,
writes where no file can go, --model given a file name or the wrong case, frames of several sizes in one
video, stream noise before the error, messages that named the wrong problem."""

import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest

from conftest import CITYSCAPES_IMAGES, PHOTOS, WEIGHTS, run_cli
from test_disk_full import _namespaces_work
from test_streams import _free_port
from espnet_edge import weights, zoo
from espnet_edge.errors import UserError

PHOTO = os.path.join(PHOTOS, "sample1.jpg")
FRAME = os.path.join(CITYSCAPES_IMAGES, "frankfurt_000000_000294_leftImg8bit.png")


def _only_error_line(result):
    assert result.returncode not in (0, None) and "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert [l for l in lines if ": error: " in l] == [lines[-1]], result.stderr
    return lines[-1]


def _digests(folder):
    return {name: hashlib.sha256(open(os.path.join(folder, name), "rb").read()).hexdigest()
            for name in sorted(os.listdir(folder)) if os.path.isfile(os.path.join(folder, name))}


# ---- $ESPNET_EDGE_WEIGHTS ----

def test_weights_env_naming_no_folder_is_said_at_lookup(tmp_path, monkeypatch):
    entry = zoo.get_model("espnet-c-q3")
    monkeypatch.setenv(weights.WEIGHTS_ENV, str(tmp_path / "typo"))
    with pytest.raises(UserError, match=r"\$ESPNET_EDGE_WEIGHTS is set to .*typo, which does not exist; point it"):
        weights.find_weights(entry, cache_dir=str(tmp_path / "cache"))
    (tmp_path / "file").write_text("x")
    monkeypatch.setenv(weights.WEIGHTS_ENV, str(tmp_path / "file"))
    with pytest.raises(UserError, match="which is a file, not a folder"):
        weights.find_weights(entry, cache_dir=str(tmp_path / "cache"))


def test_models_does_not_say_download_when_the_env_folder_is_missing(tmp_path):
    result = run_cli("models", env={"ESPNET_EDGE_WEIGHTS": str(tmp_path / "typo"),
                                    "ESPNET_EDGE_CACHE": str(tmp_path / "cache")})
    assert result.returncode == 0, result.stderr
    assert "warning: $ESPNET_EDGE_WEIGHTS is set to {}, which does not exist".format(tmp_path / "typo") \
        in result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("espnet-c-q3 ")]
    assert rows and "not found" in rows[0] and "download" not in result.stdout


def test_download_advice_when_the_env_folder_is_set(tmp_path, monkeypatch):
    """Set and valid, but without the file: the advice names the folder it is set to, never 'set it'."""
    (tmp_path / "mine").mkdir()
    monkeypatch.setenv(weights.WEIGHTS_ENV, str(tmp_path / "mine"))
    entry = zoo.get_model("espnet-c-q3")._replace(url="file:///nonexistent/espnet.pth")
    with pytest.raises(UserError) as info:
        weights.find_weights(entry, cache_dir=str(tmp_path / "cache"))
    assert "under $ESPNET_EDGE_WEIGHTS (now {})".format(tmp_path / "mine") in str(info.value)
    assert "set $ESPNET_EDGE_WEIGHTS" not in str(info.value)


def test_a_corrupt_zoo_checkpoint_is_refused_by_its_sha256_and_the_right_one_found(tmp_path, monkeypatch):
    """Encoder and decoder checkpoints share file names: the lookup takes the one with the zoo's digest;
    only a file with another digest is one line naming both digests."""
    entry = zoo.get_model("espnet-c-q3")   # espnet/encoder/espnet_p_2_q_3.pth
    decoder = os.path.join(WEIGHTS, "espnet", "decoder", "espnet_p_2_q_3.pth")
    (tmp_path / "a").mkdir()
    shutil.copy(decoder, str(tmp_path / "a" / entry.weights_basename))   # same name, another network
    (tmp_path / "b").mkdir()
    shutil.copy(os.path.join(WEIGHTS, entry.weights_file), str(tmp_path / "b" / entry.weights_basename))
    monkeypatch.setenv(weights.WEIGHTS_ENV, str(tmp_path))
    assert weights.find_weights(entry, download=False) == str(tmp_path / "b" / entry.weights_basename)
    data = bytearray((tmp_path / "b" / entry.weights_basename).read_bytes())
    data[len(data) // 2] ^= 0x01   # one bit in the tensor data: loads fine, gives wrong masks
    (tmp_path / "b" / entry.weights_basename).write_bytes(bytes(data))
    with pytest.raises(UserError, match="has sha256 .* but the zoo's espnet-c-q3 is {}: the file is corrupt".format(
            entry.sha256)):
        weights.find_weights(entry, download=False)


# ---- demo --output: what to open ----

def test_the_mjpeg_output_says_what_to_open(caplog):
    from espnet_edge.apps.streams import open_sinks

    with caplog.at_level(logging.INFO, logger="espnet_edge"):
        _display, sinks = open_sinks(["http://127.0.0.1:{}".format(_free_port())], 30)
    try:
        port = sinks[0].port
        text = caplog.text
        for path in ("/", "/stream", "/snapshot.jpg"):
            assert "http://127.0.0.1:{}{}".format(port, path) in text, text
        assert "MJPEG" in text and "player" in text
    finally:
        sinks[0].close()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="espnet_edge"):
        _display, sinks = open_sinks(["http://0.0.0.0:{}".format(_free_port())], 30)
    try:
        assert "on this machine also http://localhost:{}/".format(sinks[0].port) in caplog.text
        assert "0.0.0.0" not in caplog.text.split("serving the overlay:")[1].split("(listening")[0]
    finally:
        sinks[0].close()


def test_rtp_and_rtsp_outputs_say_what_to_open():
    from espnet_edge.apps.streams import parse_output, receive_hint

    kind, details = parse_output("rtp://192.168.1.20:5000")
    hint = receive_hint(kind, details, "rtp://192.168.1.20:5000")
    assert "udpsrc port=5000" in hint and "rtph264depay" in hint
    kind, details = parse_output("rtsp://server:8554/live")
    assert "viewers open rtsp://server:8554/live" in receive_hint(kind, details, "rtsp://server:8554/live")


# ---- batches keep going ----

def _bad_batch(folder):
    """Two good images and a truncated JPEG (written by cutting a real photo in half)."""
    os.makedirs(folder)
    shutil.copy(os.path.join(PHOTOS, "sample1.jpg"), os.path.join(folder, "a.jpg"))
    shutil.copy(os.path.join(PHOTOS, "sample2.jpg"), os.path.join(folder, "c.jpg"))
    data = open(os.path.join(PHOTOS, "sample3.jpg"), "rb").read()
    with open(os.path.join(folder, "b.jpg"), "wb") as handle:
        handle.write(data[:len(data) // 2])


def test_compare_keeps_going_past_a_bad_image(tmp_path, small_onnx):
    folder = str(tmp_path / "in")
    _bad_batch(folder)
    before = _digests(folder)
    result = run_cli("compare", small_onnx, small_onnx, "--images", folder, "--json", tmp_path / "r.json")
    line = _only_error_line(result)
    assert "warning: skipped {}".format(os.path.join(folder, "b.jpg")) in result.stderr
    assert "1 of 3 images could not be read" in line and "over the other 2" in line
    assert "agreement" in result.stdout and _digests(folder) == before


def test_eval_keeps_going_past_a_bad_image_and_lists_it(tmp_path, small_onnx):
    root = tmp_path / "data"
    for sub in ("images", "masks"):
        (root / sub).mkdir(parents=True)
    for name in ("a", "c"):
        frame = cv2.resize(cv2.imread(FRAME), (256, 128))
        cv2.imwrite(str(root / "images" / (name + ".png")), frame)
        cv2.imwrite(str(root / "masks" / (name + ".png")), np.zeros((128, 256), np.uint8))
    (root / "images" / "b.png").write_bytes(open(str(root / "images" / "a.png"), "rb").read()[:300])
    cv2.imwrite(str(root / "masks" / "b.png"), np.zeros((128, 256), np.uint8))
    out = tmp_path / "eval.json"
    result = run_cli("eval", "--onnx", small_onnx, "--data", root, "--format", "masks", "--json", out)
    line = _only_error_line(result)
    assert "1 of 3 images could not be evaluated" in line and "b.png" in line
    report = json.loads(out.read_text())
    assert report["images"] == 2 and [f["image"].endswith("b.png") for f in report["failed"]] == [True]


def test_eval_reads_a_split_list_in_utf16(tmp_path):
    """A VOC split list saved by an editor as UTF-16 (with its byte-order mark) is read, not a traceback."""
    from espnet_edge.apps.datasets import open_dataset

    root = tmp_path / "VOC2012"
    for sub in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (root / sub).mkdir(parents=True)
    shutil.copy(PHOTO, str(root / "JPEGImages" / "2007_000032.jpg"))
    cv2.imwrite(str(root / "SegmentationClass" / "2007_000032.png"), np.zeros((4, 4), np.uint8))
    (root / "ImageSets" / "Segmentation" / "val.txt").write_bytes(u"2007_000032\r\n".encode("utf-16"))
    dataset = open_dataset(str(root), "voc", "val")
    assert [os.path.basename(image) for image, _label in dataset.samples] == ["2007_000032.jpg"]


# ---- options checked before any work ----

def test_a_size_the_network_cannot_take_is_refused_before_the_export(tmp_path):
    cache = tmp_path / "cache"
    result = run_cli("bench", "--model", "espnet-c-q3", "--size", "1000x500",
                     env={"ESPNET_EDGE_CACHE": str(cache)}, cwd=str(tmp_path))
    assert _only_error_line(result) == ("espnet-edge bench: error: input size 1000x500 does not fit espnet-c-q3: "
                                        "width and height must be positive multiples of 8 (e.g. 1000x496)")
    assert len(result.stderr.strip().splitlines()) == 1 and not cache.exists()


# ---- where files cannot go ----

def test_a_kernel_filesystem_gets_the_right_advice(small_onnx, tmp_path):
    result = run_cli("demo", "--onnx", small_onnx, "--source", PHOTO, "--no-display", "--save", "/proc/out.mp4")
    line = _only_error_line(result)
    assert "/proc is a kernel filesystem (proc) that cannot hold files; choose another with --save" in line
    assert "free some space" not in line


def test_mountinfo_is_read_as_the_kernel_writes_it():
    from espnet_edge.utils.filesystems import cannot_hold_files, mount_of

    text = ("22 27 0:21 / /proc rw,relatime - proc proc rw\n"
            "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n"
            "40 27 0:40 / /mnt/my\\040disk ro,relatime - vfat /dev/sdb1 ro\n"
            "41 27 0:41 / /mnt/my\\040disk/inner rw,relatime - tmpfs tmpfs rw\n")
    assert mount_of("/proc/x", text).fstype == "proc"
    assert mount_of("/mnt/my disk/a.mp4", text).read_only
    assert not mount_of("/mnt/my disk/inner/a.mp4", text).read_only   # mounted over: the inner one holds it
    assert mount_of("/home/me/a.mp4", text).fstype == "ext4"
    assert cannot_hold_files("/mnt/my disk/a.mp4", text) == "/mnt/my disk is mounted read-only (vfat)"
    assert cannot_hold_files("/home/me/a.mp4", text) is None


@pytest.mark.skipif(_namespaces_work() is not None, reason=str(_namespaces_work()))
def test_a_read_only_mount_and_a_read_only_cache_get_the_right_advice(tmp_path, small_onnx):
    """A real read-only tmpfs (private mount namespace): `bench --json` there and a cache there are each
    named as what they are, before any work; neither is 'free some space' or a bad --out."""
    mount = tmp_path / "ro"
    mount.mkdir()
    driver = (
        "import json, os, subprocess, sys\n"
        "subprocess.check_call(['mount', '-t', 'tmpfs', '-o', 'ro,size=64k', 'tmpfs', sys.argv[1]])\n"
        "base = [sys.executable, '-m', 'espnet_edge']\n"
        "env = dict(os.environ, ESPNET_EDGE_CACHE=os.path.join(sys.argv[1], 'cache'))\n"
        "out = []\n"
        "for args in (['bench', '--onnx', sys.argv[2], '--json', os.path.join(sys.argv[1], 'r.json')],\n"
        "             ['bench', '--model', 'espnet-c-q3', '--size', '64x32', '--iters', '1']):\n"
        "    p = subprocess.run(base + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,\n"
        "                       universal_newlines=True, env=env, cwd=sys.argv[3])\n"
        "    out.append([p.returncode, p.stderr])\n"
        "print(json.dumps(out))\n")
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    done = subprocess.run(["unshare", "-m", "--propagation", "private", sys.executable, "-c", driver, str(mount),
                           small_onnx, str(tmp_path)], stdout=subprocess.PIPE, universal_newlines=True,
                          env=env, timeout=600, check=True)
    (json_rc, json_err), (cache_rc, cache_err) = json.loads(done.stdout)
    assert json_rc == 2 and json_err.strip().splitlines() == [
        "espnet-edge bench: error: cannot write {}/r.json: {} is mounted read-only (tmpfs); choose another with "
        "--json".format(mount, mount)], json_err
    assert cache_rc == 2 and "Traceback" not in cache_err, cache_err
    last = cache_err.strip().splitlines()[-1]
    assert "is mounted read-only" in last and "set $ESPNET_EDGE_CACHE to a writable folder" in last, last
    assert "--out" not in last


# ---- --model given a file name, or the wrong case ----

@pytest.mark.parametrize("given, expected", [
    ("export/x.onnx", "is not a zoo model name but an ONNX file: run it with --onnx export/x.onnx"),
    ("model-fp16.engine", "a TensorRT engine: run it with --engine model-fp16.engine"),
    ("espnet_p_2_q_8.pth", "a checkpoint: pass it with --weights espnet_p_2_q_8.pth"),
])
def test_a_file_given_as_model_names_the_right_option(given, expected):
    with pytest.raises(UserError, match=expected):
        zoo.get_model(given)


def test_model_names_in_another_case_are_found():
    assert zoo.get_model("ESPNet").name == "espnet-q8"   # the alias, case-folded
    assert zoo.get_model("ESPNetv2-S0.5-Pascal-256").name == "espnetv2-s0.5-pascal-256"
    with pytest.raises(UserError, match="did you mean espnet-q8"):
        zoo.get_model("ESPNet-Q9")


# ---- frames of several sizes in one video ----

def test_frames_of_other_sizes_are_letterboxed_with_one_warning(tmp_path, caplog):
    from espnet_edge.apps.outputs import VideoSaver

    path = str(tmp_path / "out.mp4")
    saver = VideoSaver(path, 10)
    first = np.full((240, 320, 3), 200, np.uint8)
    wide = np.full((100, 400, 3), 60, np.uint8)   # 4:1 into 4:3: bars above and below
    with caplog.at_level(logging.WARNING, logger="espnet_edge"):
        for image in (first, wide, wide, first):
            saver.write(image)
    assert saver.close() == path and saver.letterboxed == 2
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "frame 1 is 400x100 but" in warnings[0] and "letterboxed" in warnings[0]
    capture = cv2.VideoCapture(path)
    frames = [capture.read()[1] for _ in range(4)]
    capture.release()
    boxed = frames[1]
    assert boxed.shape == (240, 320, 3)
    assert boxed[:60].mean() < 15 and boxed[-60:].mean() < 15   # black bars (mp4v is lossy)
    assert abs(float(boxed[110:130].mean()) - 60) < 15          # the picture, not stretched over the bars


def test_a_frame_size_the_encoder_refuses_is_not_called_a_missing_encoder(tmp_path):
    from espnet_edge.apps.outputs import VideoSaver

    saver = VideoSaver(str(tmp_path / "huge.mp4"), 10)
    with pytest.raises(UserError) as info:
        saver.write(np.zeros((16, 8200, 3), np.uint8))
    assert "the mp4v encoder refuses 8200x16 frames" in str(info.value) and "no mp4v encoder" not in str(info.value)
    saver = VideoSaver(str(tmp_path / "tiny.mp4"), 10)
    with pytest.raises(UserError, match="the first frame is 1x1, too small for a video"):
        saver.write(np.zeros((1, 1, 3), np.uint8))
    assert os.listdir(str(tmp_path)) == []


# ---- an unreachable stream: our line only ----

def test_an_unreachable_rtsp_source_prints_only_our_line(small_onnx):
    """A real FFmpeg attempt on a closed port of this machine: before, FFmpeg's '[tcp @ ...] Connection
    refused' and OpenCV's '[ WARN:0@...]' lines came first."""
    result = run_cli("demo", "--onnx", small_onnx, "--source", "rtsp://127.0.0.1:9/stream", "--no-display",
                     timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "espnet-edge demo: error: cannot open stream rtsp://127.0.0.1:9/stream (CAP_FFMPEG; gave up after at most "
        "10 s): check the URL and that the server is reachable (-v shows what FFmpeg said)"]
    verbose = run_cli("-v", "demo", "--onnx", small_onnx, "--source", "rtsp://127.0.0.1:9/stream", "--no-display",
                      timeout=120)
    assert "debug: espnet_edge.utils.quiet: opening rtsp://127.0.0.1:9/stream said: [tcp @" in verbose.stderr


# ---- messages that named the wrong problem ----

@pytest.mark.parametrize("path, words", [
    ("/dev/null", "is a character device, not a regular file"),
    ("FOLDER", "is a folder; give the ONNX file itself"),
])
def test_a_path_that_is_there_is_never_called_missing(tmp_path, small_onnx, path, words):
    path = str(tmp_path) if path == "FOLDER" else path
    line = _only_error_line(run_cli("bench", "--onnx", path))
    assert words in line and "does not exist" not in line
