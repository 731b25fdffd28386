"""Readers of the argument groups (cli/args.py): "what to run" becomes a Source, a Runner, a Segmenter;
the GPU clock options become the frequencies to pin, checked before any work."""

import contextlib
import os

from espnet_edge.cli import validate
from espnet_edge.errors import UserError
from espnet_edge.utils.parsing import parse_size


def require_trained_model(args, action):
    """segment/eval/demo: one-line refusal for an architecture-only zoo model without --weights."""
    if getattr(args, "model", None) and not (getattr(args, "onnx", None) or getattr(args, "engine", None)):
        from espnet_edge.zoo import get_model, require_weights

        require_weights(get_model(args.model), args.weights, action)


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


@contextlib.contextmanager
def no_empty_folder_left(path):
    """A folder ``path`` that the body creates (with the parents it creates) is removed again when the body
    leaves it empty (a failure before anything was written): an --out folder is never left empty."""
    created = []   # path and each missing parent, innermost first
    folder = os.path.abspath(path) if path else None
    while folder and not os.path.lexists(folder):
        created.append(folder)
        folder = os.path.dirname(folder)
    try:
        yield
    finally:
        for folder in created:
            try:
                os.rmdir(folder)   # only an empty folder goes
            except OSError:
                break


def batch_error(what, done_word, total, failed, rest):
    """The one line a batch ends with when some of its ``total`` items failed (each named as a warning
    while it ran): how many, the first failure, and ``rest`` (what happened to the others)."""
    first = failed[0][1]
    if total == 1:
        return first if isinstance(first, UserError) else UserError(str(first))
    more = "; {} more named above".format(len(failed) - 1) if len(failed) > 1 else ""
    count = "none of the {} {}s".format(total, what) if len(failed) == total else \
        "{} of {} {}s".format(len(failed), total, what)
    return UserError("{} could not be {}: {}{}; {}".format(count, done_word, first, more, rest))


def source_from_args(args):
    """The user's --model/--onnx/--engine/--backend/--size/--batch resolved (and checked) once."""
    from espnet_edge.backends import resolve

    validate.input_file(getattr(args, "onnx", None), "--onnx", "ONNX file")
    validate.input_file(getattr(args, "engine", None), "--engine", "engine")
    validate.input_file(getattr(args, "weights", None), "--weights", "checkpoint")
    size = parse_size(args.size) if getattr(args, "size", None) else None
    return resolve(model=args.model, onnx=args.onnx, engine=args.engine, backend=args.backend,
                   weights=args.weights, size=size, batch=getattr(args, "batch", 1))


def freqs_from_args(args):
    """--freq (one MHz or a list) or sweep's --freqs -> [MHz, ...] ([] when none), each checked pinnable
    here (a Jetson, in the table, under the power-mode cap, writable) by a dry run before any work."""
    flag, value = ("--freqs", getattr(args, "freqs", None)) if getattr(args, "freqs", None) else \
        ("--freq", getattr(args, "freq", None))
    if not value:
        return []
    freqs = list(value) if isinstance(value, (list, tuple)) else [value]
    from espnet_edge.jetson.clocks import check_pinnable

    check_pinnable(freqs, flag=flag)
    return freqs


def runner_from_args(args, source=None, **options):
    """A loaded Runner for ``source`` (already resolved by source_from_args), else for the args."""
    from espnet_edge.backends import open_source

    return open_source(source or source_from_args(args), threads=getattr(args, "threads", None), **options)


def segmenter_from_args(args, source=None, trained_for=None, **options):
    """A Segmenter over the runner the options name; ``trained_for`` (an action, e.g. "evaluate"):
    refuse a file exported without trained weights."""
    from espnet_edge.runtime.segmenter import Segmenter

    segmenter = Segmenter(runner_from_args(args, source=source, **options))
    if trained_for:
        try:
            segmenter.info.require_trained(trained_for, getattr(args, "onnx", None) or getattr(args, "engine", None)
                                           or args.model)
        except BaseException:
            segmenter.close()
            raise
    return segmenter
