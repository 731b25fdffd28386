"""How what the user names (a zoo model, an ONNX file, a TensorRT engine, a backend) becomes a Runner.

Sits above runtime/ and host/: the runtime registers the device backends, the host package (where it
is installed) registers torch and ONNX export on demand, and every command and the Python API resolve
their choice here, once, by the same rules:

- ``--engine FILE`` runs on tensorrt;
- ``--onnx FILE`` runs on onnxruntime unless ``--backend tensorrt`` (builds the engine here);
- ``--model NAME`` runs on onnxruntime (its ONNX taken from ./export or the cache, or exported there
  on demand, with a note) unless ``--backend`` names another; ``--backend torch`` runs PyTorch directly;
- ``--model`` beside a file supplies the classes and preprocessing a foreign file lacks.
"""

import importlib
import os
from typing import Any, NamedTuple, Optional, Tuple

from espnet_edge.errors import UserError
from espnet_edge.runtime.base import backend_names, exporter, get_backend

AUTO = "auto"
DEFAULT_FILE_BACKEND = "onnxruntime"
ENGINE_EXTENSIONS = (".engine", ".trt", ".plan")
# Packages that add backends when installed; each has register().
PLUGINS = ("espnet_edge.host.backend",)
_loaded = []


def load_plugins():
    if _loaded:
        return
    for name in PLUGINS:
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            if getattr(exc, "name", None) and name.startswith(exc.name):
                continue  # that package is not installed here
            raise
        module.register()
    _loaded.append(True)


def choices():
    """--backend choices: auto, then every registered backend."""
    load_plugins()
    return (AUTO,) + backend_names()


class Source(NamedTuple("Source", [("backend", str), ("kind", str), ("path", Optional[str]),
                                   ("entry", Any), ("info", Any), ("weights", Optional[str]),
                                   ("size", Optional[Tuple[int, int]]), ("batch", int)])):
    """A resolved choice: ``backend`` runs ``kind`` ("model", "onnx" or "engine"); ``path`` for files;
    ``entry`` the zoo entry (or None); ``info`` a ModelInfo from the zoo for a file run with --model."""


def resolve(model=None, onnx=None, engine=None, backend=AUTO, weights=None, size=None, batch=1):
    """Check the user's choice (cheap: no file is opened) and decide the backend -> Source."""
    load_plugins()
    artifacts = [flag for flag, value in (("--onnx", onnx), ("--engine", engine)) if value]
    if len(artifacts) > 1 or not (artifacts or model):
        raise UserError("name --model NAME, --onnx FILE or --engine FILE"
                        + (" (got {}; name one)".format(" and ".join(artifacts)) if artifacts else ""))
    if backend not in (None, AUTO):
        get_backend(backend)
    if batch is None or int(batch) < 1:
        raise UserError("--batch must be at least 1")
    entry = None
    if model:
        from espnet_edge.zoo import get_model

        entry = get_model(model)
    kind, path = ("engine", engine) if engine else ("onnx", onnx) if onnx else ("model", None)
    if kind == "model":
        _check_model_run(entry, weights, size)
    chosen = _choose_backend(kind, backend)
    if path is not None:
        from espnet_edge.utils.pathchecks import file_problem

        problem = file_problem(path, "engine" if kind == "engine" else "ONNX file")
        if problem:
            raise UserError("{} {} {}".format("engine" if kind == "engine" else "ONNX file", path, problem))
    info = None
    if path is not None and entry is not None:
        from espnet_edge.runtime.model_info import ModelInfo

        info = ModelInfo.from_zoo(entry, size=size, batch=batch)
        info.trained = None  # what the file's own weights are, the zoo cannot say
    if kind == "model" and "model" not in get_backend(chosen).runs and exporter() is None:
        raise UserError("running --model {} on {} needs its ONNX export, which needs the host extra "
                        "(torch, onnx); export it on a workstation with `espnet-edge export --model {}` "
                        "and pass --onnx FILE".format(model, chosen, model))
    return Source(chosen, kind, path, entry, info, weights, tuple(size) if size else None, int(batch))


def _check_model_run(entry, weights, size):
    """What running a zoo model will need, checked before any export or download: a --size its network
    takes (the host package's rule, where it is installed) and a usable $ESPNET_EDGE_WEIGHTS."""
    if size is not None:
        try:
            from espnet_edge.host.models import check_size
        except ImportError:   # no host package (or no torch): the run itself says what is missing
            check_size = None
        if check_size is not None:
            check_size(entry, tuple(size))
    if not weights and entry.weights_file:
        from espnet_edge.weights import env_root

        env_root()


def _choose_backend(kind, backend):
    if kind == "engine":
        if backend not in (None, AUTO, "tensorrt"):
            raise UserError("--engine runs on the tensorrt backend, not {}".format(backend))
        return "tensorrt"
    if backend in (None, AUTO):
        return DEFAULT_FILE_BACKEND
    runs = get_backend(backend).runs
    if kind == "onnx" and "onnx" not in runs:
        raise UserError("the {} backend runs zoo models: use --model NAME, not --onnx".format(backend))
    return backend


def resolve_spec(spec, backend=AUTO, model=None, weights=None, size=None, batch=1):
    """One string -> Source: a zoo model name, an .onnx file or an engine (.engine/.trt/.plan),
    optionally prefixed ``backend:`` (``torch:espnet``, ``tensorrt:model.onnx``)."""
    load_plugins()
    prefix, rest = spec.split(":", 1) if ":" in spec else (None, spec)
    if prefix in backend_names():
        if backend not in (None, AUTO, prefix):
            raise UserError("{} names the {} backend but backend {} was asked for".format(spec, prefix, backend))
        backend, spec = prefix, rest
    ext = os.path.splitext(spec)[1].lower()
    if ext == ".onnx":
        return resolve(model=model, onnx=spec, backend=backend, weights=weights, size=size, batch=batch)
    if ext in ENGINE_EXTENSIONS:
        return resolve(model=model, engine=spec, backend=backend, weights=weights, size=size, batch=batch)
    if os.path.sep in spec or os.path.exists(spec):
        raise UserError("{}: not an .onnx file or an engine ({}); name a zoo model, an .onnx or an "
                        "engine".format(spec, ", ".join(ENGINE_EXTENSIONS)))
    if model is not None and model != spec:
        raise UserError("name the model once ({} or {})".format(spec, model))
    return resolve(model=spec, backend=backend, weights=weights, size=size, batch=batch)


def open_source(source, threads=None, **options):
    """Source -> loaded Runner (exports a zoo model first where its backend runs files)."""
    if threads is not None and int(threads) < 1:
        raise UserError("--threads must be at least 1 (got {}); give 1 or more, or leave it unset".format(threads))
    backend = get_backend(source.backend)
    if source.kind not in backend.runs:
        path = exporter()(source.entry, weights=source.weights, size=source.size, batch=source.batch)
        source = source._replace(kind="onnx", path=path)
    return backend.open(source, threads=threads, **options)


def open_runner(backend=AUTO, model=None, onnx=None, engine=None, weights=None, size=None, batch=1,
                threads=None, **options):
    """resolve() + open_source(): a loaded Runner. ``size`` is (width, height) or None for native."""
    source = resolve(model=model, onnx=onnx, engine=engine, backend=backend, weights=weights, size=size,
                     batch=batch)
    return open_source(source, threads=threads, **options)
