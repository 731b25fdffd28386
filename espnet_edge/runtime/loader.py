"""Open the right Runner for what the user named: a zoo model, an ONNX file or a TensorRT engine."""

import os

from espnet_edge.errors import UserError
from espnet_edge.runtime.base import runner_class


def resolve_backend(backend, model=None, onnx=None, engine=None):
    """--onnx or --engine (optionally with --model NAME, whose zoo entry then supplies the classes and
    preprocessing a foreign file lacks), or --model alone."""
    artifacts = [flag for flag, value in (("--onnx", onnx), ("--engine", engine)) if value]
    if len(artifacts) > 1 or not (artifacts or model):
        raise UserError("name --model NAME, --onnx FILE or --engine FILE"
                        + (" (got {}; name one)".format(" and ".join(artifacts)) if artifacts else ""))
    if engine:
        if backend not in (None, "auto", "tensorrt"):
            raise UserError("--engine runs on the tensorrt backend, not {}".format(backend))
        return "tensorrt"
    if onnx:
        if backend in (None, "auto"):
            return "onnxruntime"
        if backend == "torch":
            raise UserError("the torch backend runs zoo models: use --model NAME, not --onnx")
        return backend
    return "onnxruntime" if backend in (None, "auto") else backend


def open_runner(backend=None, model=None, onnx=None, engine=None, weights=None, size=None, batch=1,
                threads=None, **options):
    """Return a loaded Runner. ``size`` is (width, height) or None for the model's native size."""
    from espnet_edge.zoo import get_model

    backend = resolve_backend(backend, model, onnx, engine)
    cls = runner_class(backend)
    entry = get_model(model) if model else None
    if engine or onnx:
        if entry is not None:
            from espnet_edge.runtime.model_info import ModelInfo

            options["info"] = ModelInfo.from_zoo(entry, size=size, batch=batch)
        if engine:
            _check_file(engine, "engine")
            return cls.from_engine(engine, **options)
        _check_file(onnx, "ONNX file")
        if backend == "tensorrt":
            return cls.from_onnx(onnx, **options)
        return cls(onnx, threads=threads, **options)
    if backend == "torch":
        return cls(entry, weights=weights, size=size, batch=batch, threads=threads)
    try:
        from espnet_edge.host.export.pipeline import ensure_onnx
    except ImportError as exc:
        raise UserError("running --model {} on {} needs its ONNX export, which needs torch ({}); "
                        "export it on a workstation with `espnet-edge export --model {}` and pass "
                        "--onnx FILE".format(model, backend, exc, model))
    path = ensure_onnx(entry, weights=weights, size=size, batch=batch)
    if backend == "tensorrt":
        return cls.from_onnx(path, **options)
    return cls(path, threads=threads, **options)


def _check_file(path, what):
    if not os.path.isfile(path):
        raise UserError("{} {} does not exist".format(what, path))
