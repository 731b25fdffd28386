"""Which graph runs a source's frames: by default the exact frame graph for their size.

`demo`, `bench --end-to-end` and `segment`, given ``--model NAME`` on a backend that runs ONNX files
(onnxruntime; tensorrt on a board), learn the frame size from the source (its first frame, or a
camera's caps) and run the graph exported with ``--fuse-pre --input-size FRAME --fuse-overlay``:
the checkpoint's exact preprocessing, the argmax and the overlay inside the runtime, the frame
handed over as it is. It is exported into the export cache once (host.export.pipeline.ensure_onnx,
under a lock; TensorRT builds its engine beside it once). Frames of another size in the same run
get their own cached graph, else the exact CPU path (never a graph of the wrong size).
``--no-frame-graph`` keeps the CPU path. A plain ``--onnx``/``--engine`` graph runs as it is, with
one line saying what the frame graph would gain and the command that makes it (``plain_graph_hint``).
"""

import logging
import os
from typing import NamedTuple, Optional, Tuple

from espnet_edge import defaults
from espnet_edge.backends import open_source
from espnet_edge.errors import UserError
from espnet_edge.runtime.base import exporter
from espnet_edge.runtime.trt_support import load_support
from espnet_edge.utils.atomic import locked

log = logging.getLogger(__name__)

FRAME_GRAPH_BACKENDS = ("onnxruntime", "tensorrt")
# What the frame graph gained over a plain graph (the CPU path), measured with the demo as a user runs it
# (benchmarks/bench_demo_default.py on a quiet 2-core x86 CPU, ONNX Runtime, six runs on 2026-12-07:
# espnet-q8 on 2048x1024 frames, ESPNetv2 on 1280x720; docs/bench.md "The demo as a user runs it"):
# host CPU work per frame (the threads' CPU clocks, mean over the runs) and end-to-end FPS over
# compute-only FPS (the frame graph's median over the pooled rounds, the CPU path's mean over the runs).
MEASURED = {
    "espnet": {"host_plain_ms": 95, "host_graph_ms": 2.5, "plain": 0.67, "frame_graph": 0.86},
    "espnetv2": {"host_plain_ms": 114, "host_graph_ms": 2.4, "plain": 0.73, "frame_graph": 0.87},
}
MEASURED_SOURCE = "2-core x86 CPU, ONNX Runtime; benchmarks/bench_demo_default.py and docs/bench.md"


class Choice(NamedTuple("Choice", [("frame_graph", bool), ("reason", str), ("frame_size", Tuple[int, int]),
                                   ("frame_dtype", str), ("trt_version", Optional[str]), ("asked", bool)])):
    """What runs frames of ``frame_size``: the frame graph (``frame_dtype`` frames, checked for TensorRT
    ``trt_version``) or the CPU path; ``reason`` says why (shown with -v); ``asked``: the user's own
    options decided it (--no-frame-graph, --backend torch, a file), so it goes unannounced."""


def trt_table_key(version):
    """Installed TensorRT version -> the operator table its parser is checked against (trt_support), or
    None below 8.2 (no frame graph: its graphs are opset 13)."""
    parts = [int(p) for p in str(version).split(".")[:2] if p.isdigit()]
    major, minor = (parts + [0, 0])[:2]
    if major >= 10:
        return "10"
    if major == 9 or (major == 8 and minor >= 6):
        return "8.6"
    if major == 8 and minor >= 2:
        return {4: "8.4", 5: "8.5"}.get(minor, "8.2")
    return None


def frame_dtype_for(backend, trt_version=None):
    """uint8 frames where the runtime takes them (ONNX Runtime; TensorRT whose table lists UINT8, 10 on),
    float32 for TensorRT 8.x (no UINT8 bindings)."""
    if backend != "tensorrt":
        return "uint8"

    return "uint8" if "UINT8" in load_support(trt_version).data_types else "float32"


def _installed_trt_key():
    from espnet_edge.runtime.tensorrt.builder import require_tensorrt

    version = require_tensorrt().__version__
    key = trt_table_key(version)
    return key, version


def _exactness_problem(entry, size, frame_size):
    """Why the frame graph would not be the checkpoint's exact preprocessing for this frame size, or None."""
    spec = entry.preprocess
    if spec.resize not in ("cv2_bilinear", "pil_bilinear"):
        return "its resize ({}) has no in-graph equivalent".format(spec.resize)
    if spec.resize == "pil_bilinear":
        from espnet_edge.preprocess import pil_pass_exact

        for axis, frame_side, net_side in (("width", frame_size[0], size[0]), ("height", frame_size[1], size[1])):
            if frame_side != net_side and not pil_pass_exact(frame_side, net_side):
                return ("the {} shrinks {} -> {}: beyond what the graph reproduces of Pillow's resize exactly "
                        "in float32".format(axis, frame_side, net_side))
    return None


def choose(source, frame_size, enabled=True, trt_version=None):
    """-> Choice for frames of ``frame_size`` (W, H) from ``source`` (a resolved backends.Source).
    ``trt_version``: the TensorRT table key for the tensorrt backend (default: the installed one)."""
    frame_size = (int(frame_size[0]), int(frame_size[1]))

    def cpu(reason, asked=False):
        return Choice(False, reason, frame_size, "float32", None, asked)

    if not enabled:
        return cpu("--no-frame-graph: CPU preprocessing, argmax and overlay", True)
    if source.kind != "model":
        return cpu("a --onnx/--engine file runs as it is", True)
    if source.backend not in FRAME_GRAPH_BACKENDS:
        return cpu("the {} backend runs the network itself; frame graphs are ONNX graphs for {}".format(
            source.backend, " and ".join(FRAME_GRAPH_BACKENDS)), True)
    if source.batch != 1:
        return cpu("--batch {}: a frame graph takes one frame at a time".format(source.batch), True)

    if exporter() is None:
        return cpu("no ONNX exporter here (the host extra: torch, onnx)")
    size = tuple(source.size or source.entry.input_size)
    problem = _exactness_problem(source.entry, size, frame_size)
    if problem:
        return cpu(problem)
    reason = "--model {} on {}: frames of {}x{} go into the graph as they are".format(
        source.entry.name, source.backend, frame_size[0], frame_size[1])
    if source.backend == "tensorrt":
        version = None
        if trt_version is None:
            trt_version, version = _installed_trt_key()
        if trt_version is None:
            return cpu("TensorRT {} is older than 8.2, the oldest whose ONNX parser the frame graph is "
                       "checked for".format(version))
        dtype = frame_dtype_for("tensorrt", trt_version)
        reason += "; TensorRT {} takes {} frames".format(version or trt_version, dtype)
        return Choice(True, reason, frame_size, dtype, trt_version, False)
    return Choice(True, reason + "; ONNX Runtime takes uint8 frames", frame_size, "uint8", "10", False)


def describe(choice, path=None, entry_name=None, size=None):
    """One line: what runs the frames (for the note and the run's summary)."""
    width, height = choice.frame_size
    if not choice.frame_graph:
        return "CPU path for {}x{} frames: preprocessing, argmax and overlay on the CPU".format(width, height)
    return "frame graph of {} at {}x{} for {}x{} {} frames (preprocessing, argmax and overlay in the graph): " \
           "{}".format(entry_name, size[0], size[1], width, height, choice.frame_dtype, path)


def plain_graph_hint(info, frame_size, backend, path):
    """For a --onnx/--engine graph without in-graph preprocessing: -> one line saying what the frame
    graph gained in a measurement (MEASURED, with its source) and the command that makes it, or None
    (already a frame graph, or a family never measured)."""
    if info.frame_size:
        return None
    family = "espnetv2" if info.name.startswith("espnetv2") else "espnet" if info.name.startswith("espnet") else None
    width, height = frame_size
    command = "espnet-edge export --model {} --size {}x{} --fuse-pre --input-size {}x{} --fuse-overlay".format(
        info.name, info.input_size[0], info.input_size[1], width, height)
    if backend != "tensorrt":
        command += " --frame-dtype uint8 --trt 10"
    text = "{} is a plain graph: preprocessing, argmax and overlay run on the CPU".format(path)
    if family in MEASURED:
        numbers = MEASURED[family]
        text += ("; measured for {} ({}): ~{:.0f} ms of host CPU work per frame on that path against ~{:.1f} ms "
                 "with the frame graph, and {:.2f}x against {:.2f}x of compute-only FPS on a quiet machine "
                 "({:.2f}x the FPS)".format(
                     family, MEASURED_SOURCE, numbers["host_plain_ms"], numbers["host_graph_ms"], numbers["plain"],
                     numbers["frame_graph"], numbers["frame_graph"] / numbers["plain"]))
    return text + "; make it with `{}` (or run --model {}, which makes and caches it)".format(command, info.name)


class FrameGraphRouter(object):
    """Segmenter-like: one Segmenter per frame size; ``for_frame(frame)`` -> the one for that frame
    (apps.pipeline.infer_frame asks it for every frame). The first frame size gets its frame graph
    (exported on demand); other sizes get a frame graph already in ./export or the cache, else the
    CPU path through the plain graph (opened when first needed). ``info``/``runner`` are the first
    size's (classes, palette and labels are the model's either way)."""

    def __init__(self, source, frame, alpha=defaults.OVERLAY_ALPHA, enabled=True, threads=None, options=None,
                 trt_version=None):
        self.source = source
        self.alpha = float(alpha)
        self.enabled = enabled
        self.threads = threads
        self.options = dict(options or {})
        self.trt_version = trt_version
        self.resize_frames = False
        self._by_size = {}
        self._plain = None
        self.choices = []  # one dict per frame size seen: what ran it
        first = self._open_for(frame, export=True)
        self.info = first.info
        self.runner = first.runner

    @property
    def choice(self):
        return self.choices[0]

    def for_frame(self, frame):
        size = (frame.shape[1], frame.shape[0])
        segmenter = self._by_size.get(size)
        return segmenter if segmenter is not None else self._open_for(frame, export=False)

    def _open_for(self, frame, export):
        size = (frame.shape[1], frame.shape[0])
        choice = choose(self.source, size, self.enabled, self.trt_version)
        path = None
        if choice.frame_graph:
            try:
                path = self._frame_graph(choice, frame, export)
            except UserError as exc:  # e.g. an operator outside the TensorRT table: the exact CPU path still works
                log.warning("could not make the frame graph for %dx%d frames (%s); using the CPU path", size[0],
                            size[1], exc)
                choice = choice._replace(frame_graph=False, reason=str(exc))
        if choice.frame_graph and path is None:
            choice = choice._replace(frame_graph=False, reason="no frame graph for {}x{} in ./export or the "
                                     "cache (only the first frame size is exported on demand)".format(*size))
        segmenter = self._open_graph(path) if path else self._plain_segmenter()
        self._by_size[size] = segmenter
        net = tuple(self.source.size or self.source.entry.input_size)
        line = describe(choice, path, self.source.entry.name, net)
        log.log(logging.DEBUG if choice.asked else logging.INFO, "%s%s",
                "" if not self.choices else "another frame size: ", line)
        log.debug("why: %s", choice.reason)
        self.choices.append({"frame_size": list(size), "frame_graph": choice.frame_graph, "path": path,
                             "frame_dtype": choice.frame_dtype if choice.frame_graph else None,
                             "reason": choice.reason, "what": line})
        return segmenter

    def _frame_graph(self, choice, frame, export):
        source = self.source
        return exporter()(source.entry, weights=source.weights, size=source.size, batch=1,
                          frame_size=choice.frame_size, frame_dtype=choice.frame_dtype, overlay_alpha=self.alpha,
                          trt_version=choice.trt_version, images=[frame], create=export)

    def _open_graph(self, path):
        from espnet_edge.runtime.segmenter import Segmenter

        graph = self.source._replace(kind="onnx", path=path, info=None)
        if graph.backend == "tensorrt":  # the engine is built beside the graph once, one run at a time
            with locked(os.path.dirname(os.path.abspath(path))):
                return Segmenter(open_source(graph, threads=self.threads, **self.options))
        return Segmenter(open_source(graph, threads=self.threads, **self.options))

    def _plain_segmenter(self):
        if self._plain is None:
            from espnet_edge.runtime.segmenter import Segmenter

            self._plain = Segmenter(open_source(self.source, threads=self.threads, **self.options))
        return self._plain

    def segment(self, frame_bgr, at_network_size=False):
        return self.for_frame(frame_bgr).segment(frame_bgr, at_network_size)

    def segment_overlay(self, frame_bgr, alpha=defaults.OVERLAY_ALPHA):
        return self.for_frame(frame_bgr).segment_overlay(frame_bgr, alpha)

    def close(self):
        closed = set()
        for segmenter in list(self._by_size.values()) + [self._plain]:
            if segmenter is not None and id(segmenter) not in closed:
                closed.add(id(segmenter))
                segmenter.close()


def note_plain_graph(segmenter, frame_size, source, label=None):
    """Log plain_graph_hint's line once for a --onnx/--engine source (nothing for a frame graph)."""
    if source.kind == "model" or frame_size is None:
        return
    hint = plain_graph_hint(segmenter.info, frame_size, source.backend, label or source.path)
    if hint:
        log.info("note: %s", hint)


def open_segmenter(source, frame=None, alpha=defaults.OVERLAY_ALPHA, frame_graph=True, threads=None, options=None,
                   trained_for=None, label=None):
    """The Segmenter(-like) for a source whose first frame is ``frame``: a FrameGraphRouter for a zoo
    model (--model; ``frame`` required), else the file's own graph, with note_plain_graph's line
    (when ``frame`` is known; ``label``: the file as the user named it). ``trained_for``: refuse a
    network exported without trained weights."""
    from espnet_edge.runtime.segmenter import Segmenter

    if source.kind == "model":
        segmenter = FrameGraphRouter(source, frame, alpha, frame_graph, threads, options)
    else:
        segmenter = Segmenter(open_source(source, threads=threads, **(options or {})))
    if trained_for:  # refused first: no note about a graph that will not run
        try:
            segmenter.info.require_trained(trained_for, source.path or source.entry.name)
        except BaseException:
            segmenter.close()
            raise
    if source.kind != "model":
        note_plain_graph(segmenter, None if frame is None else (frame.shape[1], frame.shape[0]), source, label)
    return segmenter
