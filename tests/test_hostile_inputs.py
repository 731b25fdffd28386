"""Mistakes and hostile inputs across every command and the Python API, as a table.

Each case builds its inputs in a fresh folder and runs one command in-process (``cli.main.main``, output
captured at the file-descriptor level so native libraries' lines count too) or one API call. Every case
must end with: a non-zero exit (or a UserError from the API), exactly one ``error:`` line naming what was
wrong (the case's words) and what to do, no traceback, no input changed (hashes before and after) and
nothing under the case's output names (nor a temporary file). Cases that need several seconds of real
work (a model export, a profiled run) are few; the rest fail before any work, which is the point.
"""

import hashlib
import os
import re
import shutil
import signal
import stat
import sys

import numpy as np
import pytest

from conftest import CITYSCAPES_IMAGES, PHOTOS, TEGRASTATS_DIR, WEIGHTS

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sim_jetson import make_board_tree  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPLAY = os.path.join(HERE, "replay_tegrastats.py")
PHOTO = os.path.join(PHOTOS, "sample1.jpg")
FRAME = os.path.join(CITYSCAPES_IMAGES, "frankfurt_000000_000294_leftImg8bit.png")
CHECKPOINT = os.path.join(WEIGHTS, "espnet", "encoder", "espnet_p_2_q_3.pth")
ERROR_LINE = re.compile(r"^espnet-edge( [a-z-]+)?: error: ")
# an error line says what to do: one of these words (or argparse's "(see --help)") must be in it
ADVICE = ("give", "choose", "use", "pass", "set", "run", "write", "add", "drop", "point", "check", "name",
          "delete", "download", "make", "rename", "fix", "install", "free", "did you mean", "see --help",
          "unset", "plug", "move", "resize", "export", "rebuild", "convert", "say", "open", "build", "pin",
          "put", "take", "repeat", "remove")


class Scene(object):
    """The folder a case builds its inputs (``in/``) and names its outputs (``out/...``) in."""

    def __init__(self, root, small_onnx):
        self.root = str(root)
        self.inputs = os.path.join(self.root, "in")
        os.makedirs(self.inputs)
        self._small_onnx = small_onnx
        self.env = {}

    def path(self, name):
        return os.path.join(self.inputs, name)

    def out(self, name="out"):
        return os.path.join(self.root, "out", name)

    def write(self, name, data):
        path = self.path(name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as handle:
            handle.write(data if isinstance(data, bytes) else data.encode("utf-8"))
        return path

    def copy(self, source, name=None):
        target = self.path(name or os.path.basename(source))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy(source, target)
        return target

    @property
    def onnx(self):
        return self.copy(self._small_onnx, "m.onnx") if not os.path.exists(self.path("m.onnx")) else self.path("m.onnx")

    def photo(self, name="p.jpg"):
        return self.copy(PHOTO, name)

    def folder(self, name, *files):
        folder = self.path(name)
        os.makedirs(folder, exist_ok=True)
        for item in files:
            shutil.copy(item, folder)
        return folder

    def fifo(self, name):
        os.mkfifo(self.path(name))
        return self.path(name)

    def loop(self, name):
        os.symlink(name, self.path(name))
        return self.path(name)

    def link(self, name, target):
        os.symlink(target, self.path(name))
        return self.path(name)

    def truncated(self, source, name, fraction=0.5):
        data = open(source, "rb").read()
        return self.write(name, data[:int(len(data) * fraction)])

    def flipped(self, source, name, offset):
        data = bytearray(open(source, "rb").read())
        data[offset] ^= 0x5A
        return self.write(name, bytes(data))

    def onnx_with_metadata(self, name, key, value):
        import onnx

        model = onnx.load(self._small_onnx)
        for prop in model.metadata_props:
            if prop.key == "espnet_edge." + key:
                prop.value = value
        path = self.path(name)
        onnx.save(model, path)
        return path

    def engine_with_sidecar(self, sidecar):
        engine = self.write("e.engine", b"\x00" * 64)
        self.write("e.engine.json", sidecar)
        return engine

    def tx2(self):
        paths = make_board_tree(os.path.join(self.root, "sys"), board="tx2", release="32.7.1", nvpmodel_mode=0,
                                cur_mhz=828.75)
        self.env.update({"ESPNET_EDGE_SYSFS_ROOT": paths["root"], "ESPNET_EDGE_TEGRASTATS": REPLAY,
                         "REPLAY_TEGRASTATS_FILE": os.path.join(TEGRASTATS_DIR, "tx2_l4t32-inferred_1.txt")})
        return paths

    def not_jetson(self):
        os.makedirs(os.path.join(self.root, "nosys"), exist_ok=True)
        self.env["ESPNET_EDGE_SYSFS_ROOT"] = os.path.join(self.root, "nosys")

    def runs(self, summary_bytes):
        run = self.path("runs/r1")
        os.makedirs(run)
        self.write("runs/r1/summary.json", summary_bytes)
        self.write("runs/r1/samples.csv", "t,phase\n")
        return self.path("runs")

    def voc(self, ids_bytes):
        root = self.path("voc")
        for sub in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
            os.makedirs(os.path.join(root, sub))
        shutil.copy(PHOTO, os.path.join(root, "JPEGImages", "a.jpg"))
        import cv2

        height, width = cv2.imread(PHOTO).shape[:2]
        cv2.imwrite(os.path.join(root, "SegmentationClass", "a.png"), np.zeros((height, width), np.uint8))
        self.write("voc/ImageSets/Segmentation/val.txt", ids_bytes)
        return root


def case(name, build, words, outputs=(), slow=False):
    marks = [pytest.mark.slow] if slow else []
    return pytest.param(build, words, outputs, id=name, marks=marks)


def _over_input_symlink(s):
    link = s.link("link.json", s.onnx)
    return ["bench", "--onnx", s.onnx, "--json", link]


def _demo_source_video(s):
    video = s.write("v.mp4", b"\x00\x00\x00\x18ftypmp42")   # named as the output before it is opened
    return ["demo", "--onnx", s.onnx, "--source", video, "--no-display", "--save", video]


CLI_CASES = [
    # ---- segment ----
    case("segment-missing-image", lambda s: ["segment", "--onnx", s.onnx, "--out", s.out(), s.path("no.jpg")],
         "does not exist", ["out"]),
    case("segment-dev-null", lambda s: ["segment", "--onnx", s.onnx, "--out", s.out(), "/dev/null"],
         "character device", ["out"]),
    case("segment-fifo", lambda s: ["segment", "--onnx", s.onnx, "--out", s.out(), s.fifo("f.jpg")],
         "fifo", ["out"]),
    case("segment-symlink-loop", lambda s: ["segment", "--onnx", s.onnx, "--out", s.out(), s.loop("l.jpg")],
         "loops", ["out"]),
    case("segment-no-images", lambda s: ["segment", "--onnx", s.onnx, "--out", s.out(), s.folder("empty")],
         "holds no images", ["out"]),
    case("segment-out-is-a-file", lambda s: ["segment", "--onnx", s.onnx, "--out", s.photo("o.jpg"), s.photo()],
         "is a file"),
    case("segment-out-in-proc", lambda s: ["segment", "--onnx", s.onnx, "--out", "/proc/espnet-out", s.photo()],
         "kernel filesystem"),
    case("segment-out-over-input", lambda s: ["segment", "--onnx", s.onnx, "--out", s.inputs,
                                              s.copy(FRAME, "f.png")], "over the input"),
    case("segment-model-is-a-file-name", lambda s: ["segment", "--model", "export/x.onnx", "--out", s.out(),
                                                    s.photo()], "--onnx export/x.onnx", ["out"]),
    case("segment-unknown-model", lambda s: ["segment", "--model", "espnet-q9", "--out", s.out(), s.photo()],
         "did you mean", ["out"]),
    case("segment-size-not-multiple", lambda s: ["segment", "--model", "espnet-c-q3", "--size", "1000x500",
                                                 "--out", s.out(), s.photo()], "multiples of 8", ["out"]),
    case("segment-alpha-out-of-range", lambda s: ["segment", "--onnx", s.onnx, "--alpha", "2", "--out", s.out(),
                                                  s.photo()], "between 0 and 1", ["out"]),
    case("segment-empty-onnx", lambda s: ["segment", "--onnx", s.write("e.onnx", b""), "--out", s.out(),
                                          s.photo()], "is empty", ["out"]),
    case("segment-truncated-onnx", lambda s: ["segment", "--onnx", s.truncated(s.onnx, "t.onnx"), "--out",
                                              s.out(), s.photo()], "t.onnx", ["out"]),
    case("segment-text-as-onnx", lambda s: ["segment", "--onnx", s.write("x.onnx", "not a model\n"), "--out",
                                            s.out(), s.photo()], "x.onnx", ["out"]),
    case("segment-non-utf8-onnx", lambda s: ["segment", "--onnx", s.write("b.onnx", b"\xff\xfe\x00\x81" * 64),
                                             "--out", s.out(), s.photo()], "b.onnx", ["out"]),
    case("segment-metadata-not-json", lambda s: ["segment", "--onnx", s.onnx_with_metadata(
        "meta.onnx", "classes", "[road, sky"), "--out", s.out(), s.photo()], "metadata", ["out"]),
    case("segment-metadata-wrong-type", lambda s: ["segment", "--onnx", s.onnx_with_metadata(
        "meta2.onnx", "input_size", '"wide"'), "--out", s.out(), s.photo()], "meta2.onnx", ["out"]),
    case("segment-weights-folder", lambda s: ["segment", "--model", "espnet-c-q3", "--backend", "torch",
                                              "--weights", s.folder("w"), "--out", s.out(), s.photo()],
         "is a folder", ["out"]),
    case("segment-corrupt-checkpoint", lambda s: ["segment", "--model", "espnet-c-q3", "--backend", "torch",
                                                  "--weights", s.flipped(CHECKPOINT, "c.pth", 273), "--out",
                                                  s.out(), s.photo()], "corrupt", ["out"], slow=True),
    case("segment-truncated-jpeg-alone", lambda s: ["segment", "--onnx", s.onnx, "--out", s.out(),
                                                    s.truncated(PHOTO, "half.jpg")], "cannot decode", ["out"]),
    # ---- weights lookup ----
    case("weights-env-missing-folder", lambda s: s.env.update(ESPNET_EDGE_WEIGHTS=s.path("nowhere")) or
         ["segment", "--model", "espnet-c-q3", "--size", "256x128", "--out", s.out(), s.photo()],
         "$ESPNET_EDGE_WEIGHTS is set to", ["out"]),
    case("weights-env-is-a-file", lambda s: s.env.update(ESPNET_EDGE_WEIGHTS=s.photo("w.jpg")) or
         ["bench", "--model", "espnet-c-q3", "--backend", "torch", "--iters", "1"], "not a folder"),
    case("weights-corrupt-under-env", lambda s: s.env.update(ESPNET_EDGE_WEIGHTS=s.inputs) or s.flipped(
        CHECKPOINT, "espnet/encoder/espnet_p_2_q_3.pth", 5000) and
        ["bench", "--model", "espnet-c-q3", "--backend", "torch", "--iters", "1", "--size", "256x128"], "sha256"),
    # ---- export ----
    case("export-unknown-model", lambda s: ["export", "--model", "ESPNet-v3", "--out", s.out()], "unknown model",
         ["out"]),
    case("export-size-not-multiple", lambda s: ["export", "--model", "espnet-c-q3", "--size", "1000x500",
                                                "--out", s.out()], "multiples of 8", ["out"]),
    case("export-out-is-a-file", lambda s: ["export", "--model", "espnet-c-q3", "--out", s.photo()], "is a file"),
    case("export-out-in-sys", lambda s: ["export", "--model", "espnet-c-q3", "--out", "/sys/espnet-out"],
         "kernel filesystem"),
    case("export-int8-without-calib", lambda s: ["export", "--model", "espnet-c-q3", "--int8", "--out", s.out()],
         "--calib", ["out"]),
    case("export-calib-empty", lambda s: ["export", "--model", "espnet-c-q3", "--int8", "--calib",
                                          s.folder("calib"), "--out", s.out()], "holds no images", ["out"]),
    case("export-support-not-json", lambda s: ["export", "--model", "espnet-c-q3", "--support",
                                               s.write("s.json", "{oops"), "--out", s.out()], "s.json", ["out"]),
    case("export-support-non-utf8", lambda s: ["export", "--model", "espnet-c-q3", "--support",
                                               s.write("s8.json", b'{"8.2": "\xff\xfe"}'), "--out", s.out()],
         "s8.json", ["out"]),
    case("export-opset-too-high", lambda s: ["export", "--model", "espnet-c-q3", "--opset", "99", "--out",
                                             s.out()], "opset", ["out"]),
    case("export-weights-truncated", lambda s: ["export", "--model", "espnet-c-q3", "--size", "256x128",
                                                "--weights", s.truncated(CHECKPOINT, "t.pth"), "--out", s.out()],
         "corrupt", ["out"], slow=True),
    # ---- check-onnx ----
    case("check-onnx-missing", lambda s: ["check-onnx", s.path("none.onnx")], "does not exist"),
    case("check-onnx-folder", lambda s: ["check-onnx", s.folder("d.onnx")], "is a folder"),
    case("check-onnx-garbage", lambda s: ["check-onnx", s.write("g.onnx", b"\x08\x07garbage" * 10)], "g.onnx"),
    case("check-onnx-unknown-trt", lambda s: ["check-onnx", s.onnx, "--trt", "7.1"], "7.1"),
    case("check-onnx-support-array", lambda s: ["check-onnx", s.onnx, "--support", s.write("a.json", "[1, 2]")],
         "a.json"),
    # ---- build ----
    case("build-no-onnx", lambda s: ["build"], "name the onnx file"),
    case("build-out-over-onnx", lambda s: ["build", s.onnx, "--out", s.onnx], "is the input"),
    case("build-inspect-missing", lambda s: ["build", "--inspect", s.path("x.engine")], "does not exist"),
    case("build-inspect-sidecar-non-utf8", lambda s: ["build", "--inspect", s.engine_with_sidecar(
        b'{"format": "\xff\xfe"}')], "sidecar"),
    case("build-inspect-sidecar-array", lambda s: ["build", "--inspect", s.engine_with_sidecar(b"[]")],
         "sidecar"),
    # ---- bench ----
    case("bench-json-is-the-model", lambda s: ["bench", "--onnx", s.onnx, "--json", s.onnx], "is the input"),
    case("bench-json-symlink-to-model", _over_input_symlink, "is the input"),
    case("bench-json-is-a-folder", lambda s: ["bench", "--onnx", s.onnx, "--json", s.folder("j")], "is a folder"),
    case("bench-json-in-proc", lambda s: ["bench", "--onnx", s.onnx, "--json", "/proc/self/b.json"],
         "kernel filesystem"),
    case("bench-iters-and-duration", lambda s: ["bench", "--onnx", s.onnx, "--iters", "3", "--duration", "1"],
         "not both"),
    case("bench-images-without-e2e", lambda s: ["bench", "--onnx", s.onnx, "--images", s.folder("i", PHOTO)],
         "--end-to-end"),
    case("bench-freq-off-jetson", lambda s: s.not_jetson() or ["bench", "--onnx", s.onnx, "--freq", "828"],
         "jetson"),
    case("bench-freq-not-a-number", lambda s: ["bench", "--onnx", s.onnx, "--freq", "fast"], "--freq"),
    case("bench-onnx-and-engine", lambda s: ["bench", "--onnx", s.onnx, "--engine", s.write("x.engine", b"1")],
         "name one"),
    case("bench-torch-runs-models", lambda s: ["bench", "--onnx", s.onnx, "--backend", "torch"], "--model"),
    case("bench-wrong-case-and-size", lambda s: ["bench", "--model", "ESPNet-C-Q3", "--size", "100x100"],
         "multiples of 8"),
    # ---- clocks ----
    case("clocks-set-without-mhz", lambda s: ["clocks", "set"], "needs a frequency"),
    case("clocks-show-with-mhz", lambda s: ["clocks", "show", "828"], "takes no frequency"),
    case("clocks-set-off-jetson", lambda s: s.not_jetson() or ["clocks", "set", "828"], "jetson"),
    case("clocks-set-zero", lambda s: ["clocks", "set", "0"], "whole number of mhz"),
    # ---- tegrastats ----
    case("tegrastats-missing", lambda s: ["tegrastats", s.path("t.log")], "does not exist"),
    case("tegrastats-empty", lambda s: ["tegrastats", s.write("t.log", b"")], "holds no lines"),
    case("tegrastats-binary", lambda s: ["tegrastats", s.write("b.log", bytes(range(256)) * 8)],
         "no tegrastats lines"),
    case("tegrastats-folder", lambda s: ["tegrastats", s.folder("logs")], "is a folder"),
    # ---- profile ----
    case("profile-out-is-a-file", lambda s: ["profile", "--onnx", s.onnx, "--out", s.photo()], "is a file"),
    case("profile-bad-name", lambda s: ["profile", "--onnx", s.onnx, "--out", s.out(), "--name", "../up"],
         "--name", ["out"]),
    case("profile-freq-off-jetson", lambda s: s.not_jetson() or ["profile", "--onnx", s.onnx, "--freq", "828",
                                                                 "--out", s.out()], "jetson", ["out"]),
    case("profile-kernels-with-freq", lambda s: ["profile", "--onnx", s.onnx, "--kernels", "--freq", "828",
                                                 "--out", s.out()], "--kernels runs at the current", ["out"]),
    case("profile-tegrastats-missing-exe", lambda s: s.tx2() and s.env.update(
        ESPNET_EDGE_TEGRASTATS=s.path("nope")) or ["profile", "--onnx", s.onnx, "--out", s.out(), "--idle", "0",
                                                   "--duration", "1", "--warmup", "0"], "does not exist", ["out"]),
    # ---- sweep ----
    case("sweep-without-freqs", lambda s: ["sweep", "--onnx", s.onnx, "--out", s.out()], "--freqs", ["out"]),
    case("sweep-logs-without-runs", lambda s: ["sweep", "--from-logs", s.folder("nothing"), "--out", s.out()],
         "no profile runs", ["out"]),
    case("sweep-summary-non-utf8", lambda s: ["sweep", "--from-logs", s.runs(b'{"performance": "\xff"}'),
                                              "--out", s.out()], "summary.json", ["out"]),
    case("sweep-summary-array", lambda s: ["sweep", "--from-logs", s.runs(b"[1, 2, 3]"), "--out", s.out()],
         "json array", ["out"]),
    case("sweep-out-exists", lambda s: ["sweep", "--from-logs", s.runs(b"{}"), "--out", s.folder("done")],
         "already exists"),
    # ---- demo ----
    case("demo-save-is-the-source", _demo_source_video, "is the input"),
    case("demo-save-in-proc", lambda s: ["demo", "--onnx", s.onnx, "--source", s.photo(), "--no-display",
                                         "--save", "/proc/out.mp4"], "kernel filesystem"),
    case("demo-save-wrong-kind", lambda s: ["demo", "--onnx", s.onnx, "--source", s.photo(), "--no-display",
                                            "--save", s.out("o.txt")], "video file", ["out/o.txt"]),
    case("demo-stats-wrong-kind", lambda s: ["demo", "--onnx", s.onnx, "--source", s.photo(), "--no-display",
                                             "--record-stats", s.out("s.txt")], ".json or .csv", ["out/s.txt"]),
    case("demo-save-folder-over-frames", lambda s: ["demo", "--onnx", s.onnx, "--source", s.folder(
        "frames", FRAME) and s.copy(FRAME, "frames/frame_000000.png") and s.path("frames"), "--no-display",
        "--save", s.path("frames")], "over the input"),
    case("demo-source-missing", lambda s: ["demo", "--onnx", s.onnx, "--source", s.path("v.mp4"),
                                           "--no-display"], "does not exist"),
    case("demo-source-dev-null", lambda s: ["demo", "--onnx", s.onnx, "--source", "/dev/null", "--no-display"],
         "not a regular file"),
    case("demo-source-rtsp-refused", lambda s: ["demo", "--onnx", s.onnx, "--source", "rtsp://127.0.0.1:9/x",
                                                "--no-display"], "cannot open stream"),
    case("demo-output-unknown-scheme", lambda s: ["demo", "--onnx", s.onnx, "--source", s.photo(),
                                                  "--no-display", "--output", "ftp://host:21"], "--output"),
    case("demo-output-port-range", lambda s: ["demo", "--onnx", s.onnx, "--source", s.photo(), "--no-display",
                                              "--output", "http://0.0.0.0:99999"], "65535"),
    case("demo-csi-bad", lambda s: ["demo", "--onnx", s.onnx, "--source", "csi://front", "--no-display"],
         "csi://0"),
    case("demo-camera-size", lambda s: ["demo", "--onnx", s.onnx, "--source", "0", "--camera-size", "12x"],
         "--camera-size"),
    # ---- eval ----
    case("eval-data-missing", lambda s: ["eval", "--onnx", s.onnx, "--data", s.path("nodata")], "nodata"),
    case("eval-data-unknown-layout", lambda s: ["eval", "--onnx", s.onnx, "--data", s.folder("x", PHOTO)],
         "layout"),
    case("eval-split-list-latin1", lambda s: ["eval", "--onnx", s.onnx, "--format", "voc", "--data",
                                              s.voc(u"a\ncaf\u00e9\n".encode("latin-1"))], "val.txt"),
    case("eval-json-over-data", lambda s: ["eval", "--onnx", s.onnx, "--format", "voc", "--data", s.voc(b"a\n"),
                                           "--json", s.path("voc/JPEGImages/a.jpg")], "is the input"),
    case("eval-limit-zero", lambda s: ["eval", "--onnx", s.onnx, "--data", s.inputs, "--limit", "0"],
         "--limit"),
    # ---- compare ----
    case("compare-one-artifact", lambda s: ["compare", s.onnx, "--images", s.photo()], "at least two"),
    case("compare-images-missing", lambda s: ["compare", s.onnx, s.onnx, "--images", s.path("none")],
         "does not exist"),
    case("compare-json-over-image", lambda s: ["compare", s.onnx, "espnet-c-q3", "--images", s.photo(), "--json",
                                               s.path("p.jpg")], "is the input"),
    case("compare-artifact-missing", lambda s: ["compare", s.onnx, s.path("y.onnx"), "--images", s.photo()],
         "does not exist"),
    case("compare-unknown-artifact", lambda s: ["compare", s.onnx, "espnetv9", "--images", s.photo()],
         "unknown model"),
    # ---- report ----
    case("report-no-runs", lambda s: ["report", "--out", s.out()], "name the recorded runs", ["out"]),
    case("report-out-exists", lambda s: ["report", s.runs(b"{}"), "--out", s.folder("r")], "already exists"),
    case("report-summary-garbage", lambda s: ["report", s.runs(b"\x00\x01garbage"), "--out", s.out()],
         "summary.json", ["out"]),
    case("report-power-freqs", lambda s: ["report", s.runs(b"{}"), "--power-freqs", "fast,slow", "--out",
                                          s.out()], "--power-freqs", ["out"]),
    case("report-kernels-missing", lambda s: ["report", s.runs(b"{}"), "--kernels", s.path("k.json"), "--out",
                                              s.out()], "does not exist", ["out"]),
    # ---- doctor ----
    case("doctor-selftest-out-folder", lambda s: ["doctor", "--selftest", "--out", s.folder("d")], "folder"),
    case("doctor-selftest-out-proc", lambda s: ["doctor", "--selftest", "--out", "/proc/selftest.json"],
         "kernel filesystem"),
]


def _hashes(root):
    found = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(folder, name)
            info = os.lstat(path)
            if stat.S_ISLNK(info.st_mode):
                found[path] = "link:" + os.readlink(path)
            elif stat.S_ISREG(info.st_mode):
                with open(path, "rb") as handle:
                    found[path] = hashlib.sha256(handle.read()).hexdigest()
            elif stat.S_ISDIR(info.st_mode):
                found[path] = "dir"
            else:
                found[path] = "special"
    return found


class _Timeout(Exception):
    pass


def _alarm(_signum, _frame):
    raise _Timeout("the case ran longer than its deadline (a hang)")


def _run_in_process(argv, capfd, deadline_s=120):
    from espnet_edge.cli.main import main

    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(deadline_s)
    try:
        try:
            code = main([str(a) for a in argv])
        except SystemExit as exc:
            code = exc.code
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    out, err = capfd.readouterr()
    return code, out, err


def _assert_one_error_line(text_lines, words):
    errors = [line for line in text_lines if ERROR_LINE.match(line)]
    assert len(errors) == 1, "\n".join(text_lines)
    line = errors[0]
    assert words.lower() in line.lower(), line
    assert any(word in line.lower() for word in ADVICE), "no advice in: " + line
    return line


def _no_temporaries(root):
    return [os.path.join(folder, name) for folder, _dirs, files in os.walk(root) for name in files
            if name.endswith(".tmp") or ".tmp." in name]


@pytest.fixture
def scene(tmp_path, small_onnx, monkeypatch):
    monkeypatch.chdir(str(tmp_path))
    return Scene(tmp_path, small_onnx)


@pytest.mark.parametrize("build, words, outputs", CLI_CASES)
def test_cli_mistake(scene, build, words, outputs, capfd, monkeypatch):
    argv = build(scene)
    for key, value in scene.env.items():
        monkeypatch.setenv(key, value)
    before = _hashes(scene.inputs)
    capfd.readouterr()
    code, _out, err = _run_in_process(argv, capfd)
    assert code not in (0, None), err
    assert "Traceback" not in err, err
    assert "note: exporting" not in err and "note: downloading" not in err, err   # no work before the check
    _assert_one_error_line(err.strip().splitlines(), words)
    assert _hashes(scene.inputs) == before
    for name in outputs:
        assert not os.path.lexists(os.path.join(scene.root, name)), name
    assert _no_temporaries(scene.root) == []


def _segment_with(image, **options):
    """-> build(scene) -> the call: segment ``image`` (or ``image(scene)``) with the scene's model."""
    def build(s):
        onnx, picture = s.onnx, image(s) if callable(image) else image

        def call():
            import espnet_edge as ee

            with ee.load(onnx) as model:
                model.segment(picture, **options)
        return call
    return build


def _overlay_alpha(alpha):
    def build(s):
        onnx = s.onnx

        def call():
            import espnet_edge as ee

            with ee.load(onnx) as model:
                model.segment(np.zeros((8, 8, 3), np.uint8), channels="bgr").overlay(alpha=alpha)
        return call
    return build


def _api(name, *args, **kwargs):
    """-> the call of espnet_edge.NAME(*args, **kwargs) (closing what it opens)."""
    def call():
        import espnet_edge as ee

        result = getattr(ee, name)(*args, **kwargs)
        if hasattr(result, "close"):
            result.close()
    return call


API_CASES = [
    case("load-none", lambda s: _api("load", None), "got None"),
    case("load-missing-onnx", lambda s: _api("load", s.path("x.onnx")), "does not exist"),
    case("load-folder-named-onnx", lambda s: _api("load", s.folder("f.onnx")), "is a folder"),
    case("load-wrong-case-bad-size", lambda s: _api("load", "ESPNet-C-Q3", size="1000x500"), "multiples of 8"),
    case("load-size-garbage", lambda s: _api("load", "espnet-c-q3", size="big"), "big"),
    case("load-size-wrong-type", lambda s: _api("load", "espnet-c-q3", size=512), "size"),
    case("load-unknown-backend", lambda s: _api("load", s.onnx, backend="cuda"), "cuda"),
    case("load-threads-zero", lambda s: _api("load", s.onnx, threads=0), "at least 1"),
    case("load-path-as-model", lambda s: _api("load", s.path("weights/x.pth")), "x.pth"),
    case("segment-empty-array", _segment_with(np.zeros((0, 0, 3), np.uint8), channels="bgr"), "empty"),
    case("segment-float-array", _segment_with(np.zeros((4, 4, 3), np.float32), channels="rgb"), "uint8"),
    case("segment-rgba-array", _segment_with(np.zeros((4, 4, 4), np.uint8), channels="rgb"), "alpha"),
    case("segment-none", _segment_with(None), "nonetype"),
    case("segment-no-channel-order", _segment_with(np.zeros((4, 4, 3), np.uint8)), "channels="),
    case("segment-bad-channel-order", _segment_with(np.zeros((4, 4, 3), np.uint8), channels="hsv"), "hsv"),
    case("segment-missing-path", _segment_with(lambda s: s.path("none.png")), "does not exist"),
    case("segment-fifo-path", _segment_with(lambda s: s.fifo("p.png")), "fifo"),
    case("overlay-alpha-text", _overlay_alpha("0.5"), "a number between 0 and 1"),
    case("overlay-alpha-nan", _overlay_alpha(float("nan")), "between 0 and 1"),
    case("bench-iters-zero", lambda s: _api("bench", s.onnx, iters=0), "iters"),
    case("bench-duration-negative", lambda s: _api("bench", s.onnx, duration=-1), "duration"),
    case("bench-images-missing", lambda s: _api("bench", s.onnx, end_to_end=True, images=s.path("none")),
         "does not exist"),
    case("export-unknown", lambda s: _api("export", "espnet-x"), "unknown model"),
    case("export-size", lambda s: _api("export", "espnet-c-q3", size=(1000, 500), out_dir=s.out()),
         "multiples of 8", ["out"]),
    case("export-out-in-proc", lambda s: _api("export", "espnet-c-q3", size=(256, 128), out_dir="/proc/ee"),
         "kernel filesystem"),
    case("models-pattern-not-text", lambda s: _api("models", 3), "pattern"),
]


@pytest.mark.parametrize("build, words, outputs", API_CASES)
def test_api_mistake(scene, build, words, outputs, monkeypatch):
    from espnet_edge.errors import UserError

    for key, value in scene.env.items():
        monkeypatch.setenv(key, value)
    call = build(scene)   # inputs made here, the call made below
    before = _hashes(scene.inputs)
    with pytest.raises(UserError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message and words.lower() in message.lower(), message
    assert any(word in message.lower() for word in ADVICE), "no advice in: " + message
    assert _hashes(scene.inputs) == before
    for name in outputs:
        assert not os.path.lexists(os.path.join(scene.root, name)), name
    assert _no_temporaries(scene.root) == []


def test_outputs_apart_sees_through_links_and_relative_paths(tmp_path, monkeypatch):
    """The one check every command calls: by device and inode, so a hard link, a symlink, a symlinked
    folder or a path with '..' naming an input is caught; a new name beside the inputs is not."""
    from espnet_edge.errors import UserError
    from espnet_edge.utils.pathchecks import outputs_apart

    monkeypatch.chdir(str(tmp_path))
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.png").write_bytes(b"png")
    os.link(str(data / "a.png"), str(tmp_path / "hard.json"))
    os.symlink(str(data), str(tmp_path / "view"))
    inputs = [("--images", "data")]
    for output in (("--json", "hard.json"), ("--json", "view/a.png"), ("--json", "data/../data/a.png"),
                   ("--out", "view", ["a.png"]), ("--save", "view/", r"a\.png$"), ("--json", "view")):
        with pytest.raises(UserError):
            outputs_apart([output], inputs)
    outputs_apart([("--json", "data/result.json"), ("--out", "view", ["a_mask.png"]),
                   ("--save", "new-folder", r".*")], inputs)
    with pytest.raises(UserError, match="are the same file"):
        outputs_apart([("--save", "x.mp4"), ("--output", "./x.mp4")], [])
