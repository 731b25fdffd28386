"""espnet-edge demo: live segmentation overlay from a camera, stream, video or images."""

import logging

from espnet_edge import api, defaults
from espnet_edge.apps.sources import CaptureOptions
from espnet_edge.cli import validate
from espnet_edge.cli.args import (add_alpha_arg, add_frame_graph_arg, add_output_args, add_realtime_arg,
                                  add_resize_frames_arg, add_source_args, source_options)
from espnet_edge.errors import batch_error
from espnet_edge.utils.parsing import parse_size

log = logging.getLogger(__name__)


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "demo",
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
    camera.add_argument("--rtsp-latency", type=validate.non_negative_int, default=defaults.RTSP_LATENCY_MS,
                        metavar="MS", help="rtspsrc jitter buffer on a Jetson (default %(default)s ms; lower for "
                        "less delay)")
    camera.add_argument("--rtsp-drop-on-latency", action="store_true",
                        help="rtspsrc drops packets later than --rtsp-latency instead of letting the delay grow")
    parser.set_defaults(func=run)


def run(args):
    width, height = parse_size(args.camera_size) if args.camera_size else (None, None)
    capture = CaptureOptions(width=width, height=height, framerate=args.camera_fps, flip_method=args.flip,
                             rtsp_latency_ms=args.rtsp_latency, rtsp_codec=args.rtsp_codec,
                             rtsp_drop_on_latency=args.rtsp_drop_on_latency, sensor_mode=args.sensor_mode)
    result = api.demo(source_options(args), args.source, capture, save=args.save, display=not args.no_display,
                      outputs=args.output or (), alpha=args.alpha, max_frames=args.max_frames,
                      record_stats=args.record_stats, realtime=args.realtime, resize_frames=args.resize_frames,
                      frame_graph=args.frame_graph)
    print(result.line())
    if result.lost:
        log.warning("%s; what was saved is kept", result.reason)
        return 1
    if result.unreadable:
        raise batch_error("image", "shown", result.images, result.unreadable,
                          "the others were shown{}".format(" and saved" if args.save else ""))
    return 0
