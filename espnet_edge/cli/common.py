"""How the "what to run" options (cli/args.add_source_args) become a Source, a Runner, a Segmenter."""

from espnet_edge.cli import validate
from espnet_edge.utils.parsing import parse_size


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
