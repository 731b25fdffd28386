"""The demo as `espnet-edge demo` and ``espnet_edge.demo`` run it: the outputs and the window checked before
anything opens, the frames' source opened (a CSI camera's capture planned for what the network takes),
the segmenter for the frames' size (apps.frame_graph_choice), then apps.demo.run_demo."""

import logging
import os

from espnet_edge import defaults
from espnet_edge.apps import demo
from espnet_edge.apps.frame_graph_choice import note_plain_graph, open_segmenter
from espnet_edge.apps.frame_size import csi_plan
from espnet_edge.apps.outputs import check_stats_path, save_target
from espnet_edge.apps.sources import CSI, CaptureOptions, open_source, parse_source
from espnet_edge.apps.streams import parse_output
from espnet_edge.errors import UserError
from espnet_edge.utils.pathchecks import outputs_apart
from espnet_edge.zoo import get_model, require_weights

log = logging.getLogger(__name__)

ACTION = "run the demo"


def camera_size_for(info):
    """The frame size a CSI camera is asked to deliver: the frame a --input-size graph takes, else the
    network's input size."""
    return tuple(info.frame_size or info.input_size)


def check_outputs(named, frames, save, record_stats, outputs, kinds):
    """--save, --record-stats and file --output values: writable, of a kind we write, and none of them
    the frames' source or the model (before the model loads or the camera opens)."""
    targets = [save_target(save)] if save else []
    if record_stats:
        check_stats_path(record_stats)
        targets.append(("--record-stats", record_stats))
    for text, kind in zip(outputs, kinds):
        if kind == "file":
            targets.append(save_target(text.strip(), "--output"))
    source = frames if os.path.exists(str(frames)) else None
    outputs_apart(targets, [("--source", source)] + named.files())


def _csi_segmenter(resolved, threads, capture, camera_size):
    """CSI camera: capture a sensor mode and let the VIC scale it to what the network takes (csi_plan);
    -> the Segmenter already opened for a --onnx/--engine file (its frame size is in the file), or None."""
    segmenter = None
    if resolved.kind == "model":
        target = tuple(resolved.size or resolved.entry.input_size)
    else:
        segmenter = open_segmenter(resolved, None, threads=threads, trained_for=ACTION)
        target = camera_size_for(segmenter.info)
    planned, scaled, note = csi_plan(target, camera_size, capture.flip_method)
    capture.width, capture.height = planned
    if scaled:
        capture.out_width, capture.out_height = scaled
    log.info("note: %s", note)
    return segmenter


def _segmenter_for(source, resolved, named, segmenter, alpha, frame_graph, resize_frames, realtime):
    """The segmenter for the source's first frame (the frame graph for its size), said before any export."""
    demo.pace_for(source, realtime)  # --realtime on a folder: said before any export
    frame = source.first_frame()
    if frame is None:
        raise UserError("could not read any frame from {}".format(source.name))
    label = named.onnx or named.engine
    if segmenter is None:
        segmenter = open_segmenter(resolved, frame, alpha, frame_graph, named.threads, trained_for=ACTION,
                                   label=label)
    else:
        note_plain_graph(segmenter, (frame.shape[1], frame.shape[0]), resolved, label)
    segmenter.resize_frames = resize_frames
    return segmenter


def run(named, frames, capture=None, save=None, display=True, outputs=(), alpha=defaults.OVERLAY_ALPHA,
        max_frames=None, record_stats=None, realtime=False, resize_frames=False, frame_graph=True):
    """Segment ``frames`` (a camera, stream, video, image folder or image: apps/sources.py) with the network
    ``named`` (a SourceOptions) and show / save / serve the overlay -> apps.demo.DemoResult. ``capture``: a
    CaptureOptions (its width/height: the camera size asked for); ``outputs``: --output values."""
    if named.model and not (named.onnx or named.engine):
        require_weights(get_model(named.model), named.weights, ACTION)
    outputs = list(outputs or ())
    kinds = [parse_output(text)[0] for text in outputs]
    check_outputs(named, frames, save, record_stats, outputs, kinds)
    display = display or "display" in kinds
    if display:
        problem = demo.display_problem()
        if problem:
            raise UserError("cannot open a window: {}; pass --no-display (with --save FILE to keep "
                            "the output, or --output http://0.0.0.0:8080 to watch it in a browser)".format(problem))
    resolved = named.resolve()
    capture = capture or CaptureOptions()
    camera_size = (capture.width, capture.height) if capture.width else None
    segmenter = _csi_segmenter(resolved, named.threads, capture, camera_size) \
        if parse_source(frames).kind == CSI else None
    try:
        source = open_source(frames, capture)
    except BaseException:
        if segmenter is not None:
            segmenter.close()
        raise
    try:
        segmenter = _segmenter_for(source, resolved, named, segmenter, alpha, frame_graph, resize_frames, realtime)
    except BaseException:
        source.close()
        if segmenter is not None:
            segmenter.close()
        raise
    try:
        label = "{} / {}".format(segmenter.info.name, segmenter.runner.backend)
        result = demo.run_demo(segmenter, source, save=save, display=display, alpha=alpha, max_frames=max_frames,
                               record_stats=record_stats, label=label, realtime=realtime,
                               outputs=[o for o, kind in zip(outputs, kinds) if kind != "display"])
        result.unreadable = list(getattr(source, "unreadable", ()))
        result.images = len(source.paths) if hasattr(source, "paths") else None
        return result
    finally:
        segmenter.close()
