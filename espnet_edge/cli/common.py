"""Options shared by the subcommands that run a network, and how they become a Segmenter."""

from espnet_edge.cli import validate
from espnet_edge.utils.parsing import parse_size


def backend_choices():
    from espnet_edge.backends import choices

    return choices()


def add_source_args(parser, size=True, batch=False, threads=True):
    """--model/--onnx/--engine, --weights, --backend (and --size/--batch/--threads)."""
    group = parser.add_argument_group(
        "what to run", "--model NAME, --onnx FILE or --engine FILE; --model with a file takes the classes "
        "and preprocessing from the zoo, for files without espnet-edge metadata")
    group.add_argument("--model", help="zoo model name (see `espnet-edge models`)")
    group.add_argument("--onnx", metavar="FILE", help="ONNX file exported by espnet-edge")
    group.add_argument("--engine", metavar="FILE", help="TensorRT engine built by espnet-edge")
    parser.add_argument("--weights", metavar="FILE", help="checkpoint for --model (default: zoo lookup)")
    parser.add_argument("--backend", default="auto", choices=backend_choices(),
                        help="auto: tensorrt for --engine, else onnxruntime (a --model is exported to "
                        "ONNX on demand); torch runs --model in PyTorch")
    if size:
        parser.add_argument("--size", metavar="WxH", type=validate.size_text,
                            help="network input size (default: the model's)")
    if batch:
        parser.add_argument("--batch", type=validate.positive_int, default=1, help="batch size (default 1)")
    if threads:
        parser.add_argument("--threads", type=validate.positive_int, help="CPU threads for the backend")


def require_trained_model(args, action):
    """segment/eval/demo: one-line refusal for an architecture-only zoo model without --weights."""
    if getattr(args, "model", None) and not (getattr(args, "onnx", None) or getattr(args, "engine", None)):
        from espnet_edge.zoo import get_model, require_weights

        require_weights(get_model(args.model), args.weights, action)


def source_from_args(args):
    """The user's --model/--onnx/--engine/--backend/--size/--batch resolved (and checked) once."""
    from espnet_edge.backends import resolve

    validate.input_file(getattr(args, "onnx", None), "--onnx", "ONNX file")
    validate.input_file(getattr(args, "engine", None), "--engine", "engine")
    validate.input_file(getattr(args, "weights", None), "--weights", "checkpoint")
    size = parse_size(args.size) if getattr(args, "size", None) else None
    return resolve(model=args.model, onnx=args.onnx, engine=args.engine, backend=args.backend,
                   weights=args.weights, size=size, batch=getattr(args, "batch", 1))


def runner_from_args(args, source=None, **options):
    """A loaded Runner for ``source`` (already resolved by source_from_args), else for the args."""
    from espnet_edge.backends import open_source

    return open_source(source or source_from_args(args), threads=getattr(args, "threads", None), **options)


def segmenter_from_args(args, source=None, **options):
    from espnet_edge.runtime.segmenter import Segmenter

    return Segmenter(runner_from_args(args, source=source, **options))


def add_profiling_args(parser):
    """The measuring options shared by profile and sweep (what profiler.session reads)."""
    from espnet_edge.profiler.samplers import SOURCES

    parser.add_argument("--idle", type=validate.non_negative_float, default=3.0, metavar="S",
                        help="idle baseline before the run, seconds (default 3)")
    parser.add_argument("--duration", type=validate.positive_float, default=10.0, metavar="S",
                        help="measured phase, seconds (default 10)")
    parser.add_argument("--warmup", type=validate.non_negative_int, default=10, metavar="N", help="warm-up inferences (default 10)")
    parser.add_argument("--interval", type=validate.positive_int, default=100, metavar="MS",
                        help="sampling interval in ms (default 100)")
    parser.add_argument("--source", default="auto", choices=SOURCES,
                        help="where samples come from: auto = tegrastats if present, else host "
                        "(psutil + NVML + RAPL)")
    parser.add_argument("--out", metavar="DIR", help="parent folder of the run folders (default: profiles/)")
    parser.add_argument("--power-interval", type=int, default=10, metavar="MS",
                        help="read the board's INA3221/INA238 input-power node every MS ms for the energy "
                        "integral (default 10; 0 = tegrastats only)")
    parser.add_argument("--settle-timeout", type=validate.non_negative_float, default=10.0, metavar="S",
                        help="wait at most S seconds for the GPU clock and board power to settle (default 10)")
    parser.add_argument("--emc", type=int, metavar="MHZ",
                        help="pin the memory (EMC) clock for the run where the board allows it (restored "
                        "afterwards)")
