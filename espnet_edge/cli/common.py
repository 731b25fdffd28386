"""Readers of the argument groups (cli/args.py): "what to run" becomes a Source, a Runner, a Segmenter;
the GPU clock options become the frequencies to pin, checked before any work."""

from espnet_edge.backends import open_source
from espnet_edge.cli import validate
from espnet_edge.cli.args import clock_flag, clock_options, source_options
from espnet_edge.jetson.clocks import check_pinnable
from espnet_edge.zoo import get_model, require_weights


def require_trained_model(args, action):
    """segment/eval/demo: one-line refusal for an architecture-only zoo model without --weights."""
    options = source_options(args)
    if options.model and not (options.onnx or options.engine):
        require_weights(get_model(options.model), options.weights, action)


def model_inputs(args):
    """(flag, path) of every file the "what to run" options name (for validate.outputs_apart)."""
    inputs = []
    for flag in ("onnx", "engine", "weights", "model"):
        values = getattr(args, flag, None)
        for value in values if isinstance(values, (list, tuple)) else [values]:
            if value:
                inputs.append(("--" + flag, value))
    return inputs


def outputs_apart(args, outputs, inputs=()):
    """validate.outputs_apart over ``outputs`` and ``inputs`` plus the files "what to run" names."""
    validate.outputs_apart(outputs, list(inputs) + model_inputs(args))


def source_from_args(args):
    """The user's --model/--onnx/--engine/--backend/--size/--batch resolved (and checked) once."""
    return source_options(args).resolve()


def freqs_from_args(args):
    """--freq (one MHz or a list) or sweep's --freqs -> [MHz, ...] ([] when none), each checked pinnable
    here (a Jetson, in the table, under the power-mode cap, writable) by a dry run before any work."""
    freqs = list(clock_options(args).freqs)
    if freqs:
        check_pinnable(freqs, flag=clock_flag(args))
    return freqs


def runner_from_args(args, source=None, **options):
    """A loaded Runner for ``source`` (already resolved by source_from_args), else for the args."""
    return open_source(source or source_from_args(args), threads=source_options(args).threads, **options)


def segmenter_from_args(args, source=None, trained_for=None, **options):
    """A Segmenter over the runner the options name; ``trained_for`` (an action, e.g. "evaluate"):
    refuse a file exported without trained weights."""
    from espnet_edge.runtime.segmenter import Segmenter

    segmenter = Segmenter(runner_from_args(args, source=source, **options))
    if trained_for:
        named = source_options(args)
        try:
            segmenter.info.require_trained(trained_for, named.onnx or named.engine or named.model)
        except BaseException:
            segmenter.close()
            raise
    return segmenter
