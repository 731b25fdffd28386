"""Argument groups shared by the subcommands: what to run, where results go, GPU clocks, how to measure.

Each flag is written here once, so it has the same help, type (a check from cli/validate.py) and default
(from espnet_edge/defaults.py) in every command that takes it; a command chooses which flags of a group it
needs. Each adder returns its argparse group, so a command can add its own flags under the same title.
Readers (cli/common.py): source_from_args (what to run), freqs_from_args (the GPU clocks); the engine build
flags become a BuildOptions record here (build_options); the measuring options are read by
profiler/session.py as plain attributes. tests/test_cli_args.py walks every command's
parser and fails on a flag defined two ways."""

from espnet_edge import defaults
from espnet_edge.cli import validate
from espnet_edge.runtime.tensorrt.build_options import BuildOptions

SOURCE_TITLE = "what to run"
OUTPUT_TITLE = "outputs"
CLOCK_TITLE = "GPU clocks (Jetson only; restored afterwards)"
MEASURE_TITLE = "measuring"
TRT_CHECK_TITLE = "TensorRT operator check"
BUILD_TITLE = "TensorRT engine"
INT8_TITLE = "INT8 accuracy (with --int8): which Convs stay float, judged on images never calibrated on"

SOURCE_DESCRIPTION = ("--model NAME, --onnx FILE or --engine FILE; --model with a file takes the classes and "
                      "preprocessing from the zoo, for files without espnet-edge metadata")
REPEAT_DESCRIPTION = "repeat --model/--onnx/--engine to compare networks side by side"

# the one text of each flag that means the same everywhere
HELP = {
    "--model": "zoo model name (see `espnet-edge models`)",
    "--onnx": "ONNX file exported by espnet-edge",
    "--engine": "TensorRT engine built by espnet-edge",
    "--weights": "checkpoint for a zoo model (default: zoo lookup)",
    "--backend": "auto: tensorrt for --engine, else onnxruntime (a --model is exported to ONNX on demand); "
                 "torch runs --model in PyTorch",
    "--size": "network input size (default: the model's)",
    "--batch": "batch size (default %(default)s)",
    "--threads": "CPU threads for torch/onnxruntime (default: theirs)",
    "--json FILE": "also write the full result as JSON to FILE",
    "--json": "print JSON instead of text",
    "--alpha": "overlay opacity 0..1 (default %(default)s)",
    "--freq MHZ": "pin the GPU clock to this frequency (snapped to the nearest table step) for the run",
    "--freq MHZ,...": "pin the GPU to each frequency in turn (snapped to the nearest table step)",
    "--freqs": "GPU frequencies to run each network at, e.g. 114,420,828,1134,1300",
    "--settle-timeout": "after pinning: wait at most S seconds for the GPU clock to read back and board "
                        "power to settle before measuring (default %(default)g)",
    "--emc": "pin the memory (EMC) clock for the run where the board allows it",
    "--warmup": "untimed warm-up inferences first (default %(default)s)",
    "--resize-frames": "frames of another size than an --input-size graph's: resize them on the CPU (slower, "
                       "not exact) instead of an error",
    "--no-frame-graph": "with --model: keep preprocessing, argmax and overlay on the CPU instead of the frame graph "
                        "(the exact in-graph preprocessing and overlay for the frames' own size, exported into the "
                        "cache once)",
    "--realtime": "play a video file at its own frame rate, as a camera would deliver it (frames the pipeline "
                  "cannot keep up with are skipped), so glass-to-glass latency is what a camera would show",
    "--trt": "TensorRT version whose ONNX parser must take the graph (default %(default)s: JetPack 4.6, the "
             "TX2's last): {} or {} (latest 10.x)".format(", ".join(defaults.TRT_CHECK_VERSIONS[:-1]),
                                                        defaults.TRT_CHECK_VERSIONS[-1]),
    "--support": "onnx_trt_operator_support.json (default: $ESPNET_EDGE_TRT_SUPPORT, else the built-in table)",
    "--data": "dataset root folder",
    "--format": "dataset layout (default: detected from the folder)",
    "--split": "split to evaluate (default: val for cityscapes/voc, test for camvid)",
}


def backend_choices():
    from espnet_edge.backends import choices

    return choices()


def add_source_args(parser, model=True, files=True, backend=True, weights=True, size=True, batch=False,
                    threads=True, repeat=False, model_required=False):
    """--model, --onnx/--engine (files), --backend, --weights, --size, --batch, --threads.

    ``repeat``: --model/--onnx/--engine may be given several times (lists, default empty)."""
    group = parser.add_argument_group(SOURCE_TITLE, REPEAT_DESCRIPTION if repeat else
                                      SOURCE_DESCRIPTION if files else None)
    many = dict(action="append", default=[]) if repeat else {}
    if model:
        group.add_argument("--model", metavar="NAME", required=model_required, help=HELP["--model"], **many)
    if files:
        group.add_argument("--onnx", metavar="FILE", help=HELP["--onnx"], **many)
        group.add_argument("--engine", metavar="FILE", help=HELP["--engine"], **many)
    if backend:
        from espnet_edge.backends import AUTO

        group.add_argument("--backend", default=AUTO, choices=backend_choices(), help=HELP["--backend"])
    if weights:
        group.add_argument("--weights", metavar="FILE", help=HELP["--weights"])
    if size:
        group.add_argument("--size", metavar="WxH", type=validate.size_text, help=HELP["--size"])
    if batch:
        group.add_argument("--batch", type=validate.positive_int, default=defaults.BATCH, metavar="N",
                           help=HELP["--batch"])
    if threads:
        group.add_argument("--threads", type=validate.positive_int, metavar="N", help=HELP["--threads"])
    return group


def add_output_args(parser, out=None, out_metavar="DIR", out_required=False, out_default=None, json=None,
                    alpha=False):
    """--out (``out``: its help, since what it holds differs per command), --json, --alpha.

    ``json``: "file" (--json FILE writes the result) or "print" (--json prints JSON to stdout).
    The paths are checked by the command before its work (validate.output_dir / output_file)."""
    group = parser.add_argument_group(OUTPUT_TITLE)
    if out:
        group.add_argument("--out", metavar=out_metavar, required=out_required, default=out_default, help=out)
    if json == "file":
        group.add_argument("--json", metavar="FILE", help=HELP["--json FILE"])
    elif json == "print":
        group.add_argument("--json", action="store_true", help=HELP["--json"])
    elif json is not None:
        raise ValueError("json must be 'file', 'print' or None, got {!r}".format(json))
    if alpha:
        add_alpha_arg(group)
    return group


def add_alpha_arg(group, flag="--alpha"):
    group.add_argument(flag, type=validate.fraction, default=defaults.OVERLAY_ALPHA, help=HELP["--alpha"])


def add_clock_args(parser, freq=None, emc=False, settle=True):
    """GPU (and memory) clock pins: ``freq`` "one" (--freq MHZ -> int), "each" (--freq MHZ,... -> list,
    run once per frequency) or "sweep" (--freqs MHZ,... -> list); --emc MHZ; --settle-timeout S."""
    group = parser.add_argument_group(CLOCK_TITLE)
    if freq == "one":
        group.add_argument("--freq", type=validate.mhz, metavar="MHZ", help=HELP["--freq MHZ"])
    elif freq == "each":
        group.add_argument("--freq", type=validate.mhz_list, metavar="MHZ[,MHZ...]", help=HELP["--freq MHZ,..."])
    elif freq == "sweep":
        group.add_argument("--freqs", type=validate.mhz_list, metavar="MHZ,...", help=HELP["--freqs"])
    elif freq is not None:
        raise ValueError("freq must be 'one', 'each', 'sweep' or None, got {!r}".format(freq))
    if emc:
        group.add_argument("--emc", type=validate.mhz, metavar="MHZ", help=HELP["--emc"])
    if settle:
        group.add_argument("--settle-timeout", type=validate.non_negative_float, default=defaults.SETTLE_TIMEOUT_S,
                           metavar="S", help=HELP["--settle-timeout"])
    return group


def add_warmup_arg(group):
    group.add_argument("--warmup", type=validate.non_negative_int, default=defaults.WARMUP, metavar="N",
                       help=HELP["--warmup"])


def add_profiling_args(parser):
    """The measuring options shared by profile and sweep (what profiler.session reads)."""
    from espnet_edge.profiler.samplers import SOURCES

    group = parser.add_argument_group(MEASURE_TITLE)
    group.add_argument("--idle", type=validate.non_negative_float, default=defaults.PROFILE_IDLE_S, metavar="S",
                       help="idle baseline before the run, seconds (default %(default)g)")
    group.add_argument("--duration", type=validate.positive_float, default=defaults.PROFILE_DURATION_S,
                       metavar="S", help="measured phase, seconds (default %(default)g)")
    add_warmup_arg(group)
    group.add_argument("--interval", type=validate.positive_int, default=defaults.SAMPLE_INTERVAL_MS, metavar="MS",
                       help="sampling interval in ms (default %(default)s)")
    group.add_argument("--source", default="auto", choices=SOURCES,
                       help="where samples come from: auto = tegrastats if present, else host "
                       "(psutil + NVML + RAPL)")
    group.add_argument("--power-interval", type=validate.non_negative_int, default=defaults.POWER_INTERVAL_MS,
                       metavar="MS", help="read the board's INA3221/INA238 input-power node every MS ms for the "
                       "energy integral (default %(default)s; 0 = tegrastats only)")
    return group


def add_frame_graph_arg(group):
    group.add_argument("--no-frame-graph", dest="frame_graph", action="store_false", help=HELP["--no-frame-graph"])


def add_realtime_arg(group):
    group.add_argument("--realtime", action="store_true", help=HELP["--realtime"])


def add_resize_frames_arg(group):
    group.add_argument("--resize-frames", action="store_true", help=HELP["--resize-frames"])


def add_trt_check_args(parser):
    """--trt VERSION, --support FILE: the operator matrix an ONNX graph is checked against
    (runtime/trt_support.py)."""
    group = parser.add_argument_group(TRT_CHECK_TITLE)
    group.add_argument("--trt", default=defaults.TRT_CHECK_VERSION, metavar="VERSION", help=HELP["--trt"])
    group.add_argument("--support", metavar="FILE", help=HELP["--support"])
    return group


def add_build_args(parser):
    """The engine build flags (--fp16 ... --report); ``build_options(args)`` turns them into the builder's
    BuildOptions record (runtime/tensorrt/build_options.py)."""
    group = parser.add_argument_group(BUILD_TITLE)
    group.add_argument("--fp16", action="store_true", help="allow FP16 kernels (TensorRT >= 11: build the "
                       "exported -fp16.onnx)")
    group.add_argument("--int8", action="store_true", help="INT8: calibrate on --calib images, read "
                       "--calib-cache, or use the exported QDQ -int8.onnx")
    group.add_argument("--calib", metavar="DIR", help="folder of real images for INT8 calibration")
    group.add_argument("--calib-cache", metavar="FILE", help="INT8 calibration cache from an earlier build "
                       "with the same TensorRT version")
    group.add_argument("--calib-images", type=validate.positive_int, default=defaults.CALIB_IMAGES, metavar="N",
                       help="use at most N calibration images (default %(default)s)")
    group.add_argument("--allow-fallback", action="store_true", help="where the GPU lacks fast INT8/FP16 "
                       "(TX2: no INT8), build the next precision down instead of stopping")
    group.add_argument("--workspace", type=validate.positive_int, metavar="MB", help="builder workspace limit in MiB")
    group.add_argument("--dla", type=validate.non_negative_int, metavar="N",
                       help="run on DLA core N (Xavier/Orin), GPU fallback on")
    group.add_argument("--timing-cache", metavar="FILE", help="TensorRT timing cache to read and update "
                       "(faster rebuilds)")
    group.add_argument("--shapes", action="append", metavar="NAME:DIMS", help="input shape for dynamic "
                       "inputs: input:1x3x512x1024 or input:MIN/OPT/MAX (repeatable)")
    group.add_argument("--report", action="store_true", help="also write the engine inspector's layer table "
                       "(layer, type, precision, tactic, fused ops; with --dla the GPU fallbacks) as "
                       "ENGINE.report.json and print a short summary")
    return group


def build_options(args):
    """The flags of add_build_args as a BuildOptions (--int8 wins over --fp16: INT8 builds allow FP16 too)."""
    return BuildOptions(fp16=args.fp16 and not args.int8, int8=args.int8, calib=args.calib,
                        calib_cache=args.calib_cache, calib_images=args.calib_images,
                        allow_fallback=args.allow_fallback, workspace=args.workspace, dla=args.dla,
                        timing_cache=args.timing_cache, shapes=args.shapes, report=args.report)


def add_dataset_args(group, data="--data", required=False, data_help=None):
    """A labelled dataset as `espnet-edge eval` reads it (apps/datasets.open_dataset): the folder, its
    layout and its split. ``data`` names the folder's flag: --data goes with --format/--split, another
    name X with X-format/X-split (e.g. export's --int8-labels, --int8-labels-format, --int8-labels-split)."""
    from espnet_edge.apps.datasets import FORMATS

    fmt, split = ("--format", "--split") if data == "--data" else (data + "-format", data + "-split")
    group.add_argument(data, metavar="DIR", required=required, help=data_help or HELP["--data"])
    group.add_argument(fmt, choices=FORMATS, help=HELP["--format"])
    group.add_argument(split, help=HELP["--split"])
    return group


def add_int8_accuracy_args(parser):
    """export's choice of float Convs and what judges INT8 (host/export/int8.py, int8_judge.py)."""
    group = parser.add_argument_group(INT8_TITLE)
    group.add_argument("--int8-float", type=validate.non_negative_int, metavar="N",
                       help="keep the N Convs the sensitivity scan finds most sensitive to INT8 in float "
                       "(0: every Conv INT8, no scan); default: the fewest that meet the target below")
    group.add_argument("--int8-target", type=validate.fraction, metavar="FRACTION",
                       help="keep Convs in float (most sensitive first) until the masks of the held-out "
                       "--calib images agree with fp32 on FRACTION of their pixels (default {:g} without "
                       "--int8-labels)".format(defaults.INT8_TARGET))
    add_dataset_args(group, "--int8-labels", data_help="labelled images in any `eval` layout that judge "
                     "INT8 by mIoU against ground truth: the report gives fp32's and INT8's mIoU on them, and "
                     "the float Convs are chosen for --int8-target-miou-drop; images that --calib also "
                     "holds are left out")
    group.add_argument("--int8-target-miou-drop", type=validate.non_negative_float, metavar="POINTS",
                       help="with --int8-labels: keep Convs in float until INT8's mIoU is at most POINTS below "
                       "fp32's (default {:g})".format(defaults.INT8_MAX_MIOU_DROP))
    return group
