"""Options shared by the subcommands that run a network, and how they become a Segmenter."""

from espnet_edge.cli import validate
from espnet_edge.errors import UserError
from espnet_edge.utils.parsing import parse_size

BACKEND_CHOICES = ("auto", "torch", "onnxruntime", "tensorrt")


def add_source_args(parser, size=True, batch=False, threads=True):
    """--model/--onnx/--engine, --weights, --backend (and --size/--batch/--threads)."""
    group = parser.add_argument_group(
        "what to run", "--model NAME, --onnx FILE or --engine FILE; --model with a file takes the classes "
        "and preprocessing from the zoo, for files without espnet-edge metadata")
    group.add_argument("--model", help="zoo model name (see `espnet-edge models`)")
    group.add_argument("--onnx", metavar="FILE", help="ONNX file exported by espnet-edge")
    group.add_argument("--engine", metavar="FILE", help="TensorRT engine built by espnet-edge")
    parser.add_argument("--weights", metavar="FILE", help="checkpoint for --model (default: zoo lookup)")
    parser.add_argument("--backend", default="auto", choices=BACKEND_CHOICES,
                        help="auto: tensorrt for --engine, else onnxruntime")
    if size:
        parser.add_argument("--size", metavar="WxH", type=validate.size_text,
                            help="network input size (default: the model's)")
    if batch:
        parser.add_argument("--batch", type=validate.positive_int, default=1, help="batch size (default 1)")
    if threads:
        parser.add_argument("--threads", type=validate.positive_int, help="CPU threads for the backend")


def check_source_args(args):
    """Cheap checks of --model/--onnx/--engine/--backend before any slow work starts."""
    from espnet_edge.runtime.loader import resolve_backend

    validate.input_file(getattr(args, "onnx", None), "--onnx", "ONNX file")
    validate.input_file(getattr(args, "engine", None), "--engine", "engine")
    validate.input_file(getattr(args, "weights", None), "--weights", "checkpoint")
    backend = resolve_backend(args.backend, args.model, args.onnx, args.engine)
    if args.model:
        from espnet_edge.zoo import get_model

        get_model(args.model)
    return backend


def require_trained_model(args, action):
    """segment/eval/demo: one-line refusal for an architecture-only zoo model without --weights."""
    if getattr(args, "model", None) and not (getattr(args, "onnx", None) or getattr(args, "engine", None)):
        from espnet_edge.zoo import get_model, require_weights

        require_weights(get_model(args.model), args.weights, action)


def runner_from_args(args, **options):
    from espnet_edge.runtime.loader import open_runner

    size = parse_size(args.size) if getattr(args, "size", None) else None
    batch = getattr(args, "batch", 1) or 1
    if batch < 1:
        raise UserError("--batch must be at least 1")
    return open_runner(backend=args.backend, model=args.model, onnx=args.onnx, engine=args.engine,
                       weights=args.weights, size=size, batch=batch,
                       threads=getattr(args, "threads", None), **options)


def segmenter_from_args(args, **options):
    from espnet_edge.runtime.segmenter import Segmenter

    return Segmenter(runner_from_args(args, **options))
