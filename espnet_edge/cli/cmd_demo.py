"""espnet-edge demo: live segmentation overlay from a camera, stream, video or images."""

import logging
import os

from espnet_edge.cli import validate
from espnet_edge.cli.args import (add_alpha_arg, add_frame_graph_arg, add_output_args, add_realtime_arg,
                                  add_resize_frames_arg, add_source_args)
from espnet_edge.cli.common import source_from_args
from espnet_edge.errors import UserError
from espnet_edge.utils.parsing import parse_size

log = logging.getLogger(__name__)


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "demo", help="segment a camera/stream/video/images live, with legend and HUD",
        description="Segment frames from --source with any backend and show (or save) the overlay "
        "with a legend of the classes present and a HUD (FPS, latency, GPU clock on a Jetson). "
        "Stop with q, Ctrl-C or at the end of the input.")
    add_frame_graph_arg(add_source_args(parser))
    parser.add_argument("--source", required=True,
                        help="csi://N, /dev/videoN or camera index N, rtsp://URL, a video file, "
                        "an image folder or an image")
    outputs = add_output_args(parser)
    outputs.add_argument("--save", metavar="FILE|DIR",
                         help="write the overlay: a video (.mp4/.avi/.mov/.mkv, mp4v) or a folder of PNG frames")
    outputs.add_argument("--no-display", "--headless", dest="no_display", action="store_true",
                         help="no window (headless boards, SSH); --headless is the same")
    outputs.add_argument("--output", action="append", metavar="URL|FILE|display",
                         help="also send the overlay to: http://HOST:PORT (MJPEG, open it in a browser), "
                        "rtp://HOST:PORT or rtsp://SERVER:PORT/PATH (H.264 through GStreamer), a video "
                         "file or folder (as --save), or display; repeat for several")
    add_resize_frames_arg(parser)
    add_alpha_arg(outputs)
    parser.add_argument("--max-frames", type=validate.positive_int, metavar="N", help="stop after N frames")
    add_realtime_arg(parser)
    outputs.add_argument("--record-stats", metavar="FILE", help="per-frame latency/FPS as .json or .csv")
    camera = parser.add_argument_group("camera options (live sources)")
    camera.add_argument("--camera-size", metavar="WxH", type=validate.size_text, help="capture size (CSI: the "
                        "sensor mode asked for, default 1280x720; the VIC then scales it to the network's input "
                        "size where it can, so neither the CPU nor the GPU resizes)")
    camera.add_argument("--sensor-mode", type=validate.non_negative_int, metavar="N",
                        help="CSI: nvarguscamerasrc sensor-mode (default: Argus picks one for the capture size)")
    camera.add_argument("--camera-fps", type=validate.positive_int, help="capture frame rate (CSI default 30)")
    camera.add_argument("--flip", type=int, default=0, choices=range(8), metavar="0-7",
                        help="nvvidconv flip-method for CSI cameras (default 0)")
    camera.add_argument("--rtsp-codec", default="h264", choices=("h264", "h265"),
                        help="codec of an RTSP stream on a Jetson (default h264)")
    camera.add_argument("--rtsp-latency", type=validate.non_negative_int, default=200, metavar="MS",
                        help="rtspsrc jitter buffer on a Jetson (default 200 ms; lower for less delay)")
    camera.add_argument("--rtsp-drop-on-latency", action="store_true",
                        help="rtspsrc drops packets later than --rtsp-latency instead of letting the delay grow")
    parser.set_defaults(func=run)


def camera_size_for(info):
    """The frame size a CSI camera is asked to deliver: the frame a --input-size graph takes, else the
    network's input size."""
    return tuple(info.frame_size or info.input_size)


def _check_outputs(args, kinds):
    """--save, --record-stats and file --output values: writable, of a kind we write, and none of
    them the source or the model (before the model loads or the camera opens)."""
    from espnet_edge.apps.outputs import check_stats_path, save_target
    from espnet_edge.cli.common import outputs_apart

    targets = [save_target(args.save)] if args.save else []
    if args.record_stats:
        check_stats_path(args.record_stats)
        targets.append(("--record-stats", args.record_stats))
    for text, kind in zip(args.output or (), kinds):
        if kind == "file":
            targets.append(save_target(text.strip(), "--output"))
    source = args.source if os.path.exists(str(args.source)) else None
    outputs_apart(args, targets, [("--source", source)])


def _csi_options(args, resolved, options):
    """CSI camera: capture a sensor mode and let the VIC scale it to what the network takes (csi_plan);
    -> the Segmenter already opened for a --onnx/--engine file (its frame size is in the file), or None."""
    from espnet_edge.apps.frame_graph_choice import open_segmenter
    from espnet_edge.apps.frame_size import csi_plan

    segmenter = None
    if resolved.kind == "model":
        target = tuple(resolved.size or resolved.entry.input_size)
    else:
        segmenter = open_segmenter(resolved, None, threads=args.threads, trained_for="run the demo")
        target = camera_size_for(segmenter.info)
    capture, scaled, note = csi_plan(target, parse_size(args.camera_size) if args.camera_size else None, args.flip)
    options.width, options.height = capture
    if scaled:
        options.out_width, options.out_height = scaled
    log.info("note: %s", note)
    return segmenter


def run(args):
    from espnet_edge.cli.common import require_trained_model

    require_trained_model(args, "run the demo")
    from espnet_edge.apps import demo
    from espnet_edge.apps.frame_graph_choice import note_plain_graph, open_segmenter
    from espnet_edge.apps.sources import CSI, CaptureOptions, open_source, parse_source
    from espnet_edge.apps.streams import parse_output

    kinds = [parse_output(text)[0] for text in args.output or ()]
    _check_outputs(args, kinds)
    display = not args.no_display or "display" in kinds
    if display:
        problem = demo.display_problem()
        if problem:
            raise UserError("cannot open a window: {}; pass --no-display (with --save FILE to keep "
                            "the output, or --output http://0.0.0.0:8080 to watch it in a browser)".format(problem))
    resolved = source_from_args(args)
    width, height = parse_size(args.camera_size) if args.camera_size else (None, None)
    options = CaptureOptions(width=width, height=height, framerate=args.camera_fps, flip_method=args.flip,
                             rtsp_latency_ms=args.rtsp_latency, rtsp_codec=args.rtsp_codec,
                             rtsp_drop_on_latency=args.rtsp_drop_on_latency, sensor_mode=args.sensor_mode)
    segmenter = _csi_options(args, resolved, options) if parse_source(args.source).kind == CSI else None
    try:
        source = open_source(args.source, options)
    except BaseException:
        if segmenter is not None:
            segmenter.close()
        raise
    try:
        demo.pace_for(source, args.realtime)  # --realtime on a folder: said before any export
        frame = source.first_frame()
        if frame is None:
            raise UserError("could not read any frame from {}".format(source.name))
        if segmenter is None:
            segmenter = open_segmenter(resolved, frame, args.alpha, args.frame_graph, args.threads,
                                       trained_for="run the demo", label=args.onnx or args.engine)
        else:
            note_plain_graph(segmenter, (frame.shape[1], frame.shape[0]), resolved, args.onnx or args.engine)
        segmenter.resize_frames = args.resize_frames
    except BaseException:
        source.close()
        if segmenter is not None:
            segmenter.close()
        raise
    try:
        label = "{} / {}".format(segmenter.info.name, segmenter.runner.backend)
        result = demo.run_demo(segmenter, source, save=args.save, display=display, alpha=args.alpha,
                               max_frames=args.max_frames, record_stats=args.record_stats, label=label,
                               outputs=[o for o, kind in zip(args.output or (), kinds) if kind != "display"],
                               realtime=args.realtime)
    finally:
        segmenter.close()
    print(result.line())
    if result.lost:
        log.warning("%s; what was saved is kept", result.reason)
        return 1
    return 0
