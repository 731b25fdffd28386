"""espnet-edge bench: latency and FPS of a model on a backend, optionally at pinned GPU clocks."""

import sys

from espnet_edge import defaults
from espnet_edge.cli import validate
from espnet_edge.cli.args import (add_clock_args, add_frame_graph_arg, add_output_args, add_resize_frames_arg,
                                  add_source_args, add_warmup_arg)
from espnet_edge.cli.common import freqs_from_args, outputs_apart, segmenter_from_args, source_from_args
from espnet_edge.errors import UserError


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "bench", help="measure latency and FPS",
        description="Time a network: compute only (one preprocessed batch through the backend) or "
        "--end-to-end (real frames through preprocessing, the runner, postprocessing and rendering, "
        "pipelined, with decode/preprocess/h2d/compute/d2h/postprocess/render timings).")
    add_source_args(parser, batch=True)
    timing = parser.add_argument_group("timing")
    add_warmup_arg(timing)
    timing.add_argument("--iters", type=validate.positive_int, metavar="N",
                        help="timed iterations (default {})".format(defaults.BENCH_ITERS))
    timing.add_argument("--duration", type=validate.positive_float, metavar="S",
                        help="time for S seconds instead of --iters")
    timing.add_argument("--end-to-end", action="store_true", help="real frames through preprocess, runner, "
                        "postprocess and render, pipelined, with per-stage timings and glass-to-glass latency")
    timing.add_argument("--sequential", action="store_true", help="with --end-to-end: one frame at a time "
                        "instead of capture / inference / render threads")
    add_resize_frames_arg(timing)
    add_frame_graph_arg(timing)
    timing.add_argument("--images", metavar="DIR", help="frames for --end-to-end (default: synthetic)")
    add_clock_args(parser, freq="each")
    add_output_args(parser, json="file")
    parser.set_defaults(func=run)


def _one_run(args, segmenter, source, images, label):
    from espnet_edge.api import bench_segmenter

    return bench_segmenter(segmenter, warmup=args.warmup, iters=args.iters, duration=args.duration,
                           end_to_end=args.end_to_end, images=images, pipelined=not args.sequential,
                           label=label, source=source)


def _print(result):
    lat = result.latency_ms
    freq = ""
    if result.freq_applied_mhz is not None:
        freq = " @ {} MHz (asked {})".format(result.freq_applied_mhz, result.freq_requested_mhz)
    print("{} {} {} [{}]{}: {:.2f} FPS, latency mean {:.2f} ms, p50 {:.2f}, p90 {:.2f}, p99 {:.2f}, "
          "min {:.2f}, max {:.2f} ({} iters)".format(
              result.backend, result.model, result.size, result.mode, freq, result.fps,
              lat["mean"], lat["p50"], lat["p90"], lat["p99"], lat["min"], lat["max"], result.iters))
    if result.mode == "end-to-end":
        from espnet_edge.apps.pipeline import format_stage_table

        print("  {} on {} {} frame(s); CPU work outside the runtime {:.2f} ms/frame; {}".format(
            "pipelined" if result.pipelined else "sequential", result.images, result.frame_size,
            result.host_ms_per_frame, result.decode_note))
        for line in format_stage_table(result.stages):
            print("  " + line)


def run(args):
    from espnet_edge.utils.atomic import write_json

    if args.iters is not None and args.duration is not None:
        raise UserError("give --iters or --duration, not both")
    source = source_from_args(args)
    images = None
    if args.sequential and not args.end_to_end:
        raise UserError("--sequential is for --end-to-end; add --end-to-end")
    if args.images:
        if not args.end_to_end:
            raise UserError("--images is for --end-to-end; add --end-to-end")
        images = validate.image_folder(args.images, "--images")
    if not args.frame_graph and not args.end_to_end:
        raise UserError("--no-frame-graph is for --end-to-end (compute only always runs the plain graph); "
                        "add --end-to-end")
    freqs = freqs_from_args(args)
    validate.output_file(args.json, "--json")
    outputs_apart(args, [("--json", args.json)], [("--images", args.images)])
    if args.end_to_end:
        from espnet_edge.api import end_to_end_segmenter

        segmenter = end_to_end_segmenter(source, images, frame_graph=args.frame_graph, threads=args.threads,
                                         label=args.onnx or args.engine)
    else:
        segmenter = segmenter_from_args(args, source=source)
    segmenter.resize_frames = args.resize_frames
    results = []
    try:
        if not freqs:
            results.append(_one_run(args, segmenter, source, images, "bench"))
            _print(results[-1])
        else:
            from espnet_edge.jetson.clocks import pin_gpu

            for mhz in freqs:
                with pin_gpu(mhz, dry_run=False) as pin:
                    from espnet_edge.profiler.profile import settle_clock

                    settle = settle_clock(pin.applied_mhz, timeout_s=args.settle_timeout)
                    result = _one_run(args, segmenter, source, images, "bench @{}MHz".format(mhz))
                    result = result._replace(settle=settle, freq_requested_mhz=pin.requested_mhz,
                                             freq_applied_mhz=pin.applied_mhz)
                results.append(result)
                _print(result)
    finally:
        segmenter.close()
    if args.json:
        write_json(args.json, results[0].to_dict() if not freqs else {"runs": [r.to_dict() for r in results]},
                   flag="--json")
        sys.stdout.write("wrote {}\n".format(args.json))
    return 0
