"""espnet-edge demo: live segmentation overlay from a camera, stream, video or images."""

import logging
import os

from espnet_edge.cli import validate
from espnet_edge.cli.args import add_alpha_arg, add_output_args, add_resize_frames_arg, add_source_args
from espnet_edge.cli.common import segmenter_from_args
from espnet_edge.errors import UserError
from espnet_edge.utils.parsing import parse_size

log = logging.getLogger(__name__)


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "demo", help="segment a camera/stream/video/images live, with legend and HUD",
        description="Segment frames from --source with any backend and show (or save) the overlay "
        "with a legend of the classes present and a HUD (FPS, latency, GPU clock on a Jetson). "
        "Stop with q, Ctrl-C or at the end of the input.")
    add_source_args(parser)
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
    outputs.add_argument("--record-stats", metavar="FILE", help="per-frame latency/FPS as .json or .csv")
    camera = parser.add_argument_group("camera options (live sources)")
    camera.add_argument("--camera-size", metavar="WxH", type=validate.size_text, help="capture size (CSI "
                        "default: the graph's --input-size frame, else the network's input size, so the VIC "
                        "scales and the CPU does not)")
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
    """CSI capture size: the frame a --input-size graph takes, else the network's input size."""
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


def run(args):
    from espnet_edge.cli.common import require_trained_model

    require_trained_model(args, "run the demo")
    from espnet_edge.apps import demo
    from espnet_edge.apps.sources import CaptureOptions, open_source

    from espnet_edge.apps.streams import parse_output

    kinds = [parse_output(text)[0] for text in args.output or ()]
    _check_outputs(args, kinds)
    display = not args.no_display or "display" in kinds
    if display:
        problem = demo.display_problem()
        if problem:
            raise UserError("cannot open a window: {}; pass --no-display (with --save FILE to keep "
                            "the output, or --output http://0.0.0.0:8080 to watch it in a browser)".format(problem))
    width, height = parse_size(args.camera_size) if args.camera_size else (None, None)
    options = CaptureOptions(width=width, height=height, framerate=args.camera_fps, flip_method=args.flip,
                             rtsp_latency_ms=args.rtsp_latency, rtsp_codec=args.rtsp_codec,
                             rtsp_drop_on_latency=args.rtsp_drop_on_latency, sensor_mode=args.sensor_mode)
    from espnet_edge.apps.sources import CSI, parse_source

    segmenter = None
    if parse_source(args.source).kind == CSI and not args.camera_size:
        segmenter = segmenter_from_args(args, trained_for="run the demo")  # the capture size comes from the network
        options.width, options.height = camera_size_for(segmenter.info)
    try:
        source = open_source(args.source, options)
    except BaseException:
        if segmenter is not None:
            segmenter.close()
        raise
    try:
        segmenter = segmenter or segmenter_from_args(args, trained_for="run the demo")
        segmenter.resize_frames = args.resize_frames
    except BaseException:
        source.close()
        raise
    try:
        label = "{} / {}".format(segmenter.info.name, segmenter.runner.backend)
        result = demo.run_demo(segmenter, source, save=args.save, display=display, alpha=args.alpha,
                               max_frames=args.max_frames, record_stats=args.record_stats, label=label,
                               outputs=[o for o, kind in zip(args.output or (), kinds) if kind != "display"])
    finally:
        segmenter.close()
    print(result.line())
    if result.lost:
        log.warning("%s; what was saved is kept", result.reason)
        return 1
    return 0
