"""The Python API: ``espnet_edge.load``, ``models``, ``export``, ``bench`` (re-exported by the package).

    import espnet_edge as ee
    with ee.load("espnetv2-s2.0-pascal-384") as model:
        result = model.segment("cat.jpg")          # also a PIL image, or a numpy array + channels=
    print(result.classes_present())

Every name resolves as the CLI's --model/--onnx/--engine/--backend do (espnet_edge.backends), so a
model means the same backend here and in every command. Heavy libraries load on first use.
"""

import fnmatch
import os

from espnet_edge import defaults
from espnet_edge.errors import UserError
from espnet_edge.images import read_image


def _size(size):
    if size is None or isinstance(size, tuple) and len(size) == 2:
        return size
    if isinstance(size, str):
        from espnet_edge.utils.parsing import parse_size

        return parse_size(size)
    if isinstance(size, list) and len(size) == 2:
        return tuple(size)
    raise UserError("size must be (width, height) or 'WxH' (got {!r}): give e.g. (1024, 512) or '1024x512'".format(size))


class SegmentationModel(object):
    """A loaded network; ``segment(image)`` -> Segmentation. Close it (or use ``with``) when done."""

    def __init__(self, runner, source=None, segmenter=None):
        """``segmenter``: one already made over ``runner`` (e.g. apps.frame_graph_choice's router)."""
        from espnet_edge.runtime.segmenter import Segmenter

        self.segmenter = segmenter or Segmenter(runner)
        self.info = self.segmenter.info
        self.source = source  # the backends.Source it was opened from

    @property
    def name(self):
        return self.info.name

    @property
    def class_names(self):
        return self.info.classes

    @property
    def palette(self):
        return self.info.palette

    @property
    def input_size(self):
        return self.info.input_size

    @property
    def backend(self):
        return self.segmenter.runner.backend

    def segment(self, image, channels=None, at_network_size=False):
        """``image``: a path, a PIL image, or a uint8 numpy array HxWx3 with ``channels`` 'rgb' or 'bgr'.
        The class map comes at the image's size (nearest-neighbour) unless ``at_network_size``;
        images the result hands back (``image``, ``colorize()``, ``overlay()``) are in ``channels``
        order (default rgb)."""
        from espnet_edge.segmentation import Segmentation, to_bgr

        frame, order = to_bgr(image, channels)
        class_map = self.segmenter.segment(frame, at_network_size=at_network_size)
        return Segmentation(class_map, self.info.classes, self.info.palette, frame, order, self.info.name)

    def close(self):
        self.segmenter.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __repr__(self):
        return "SegmentationModel({!r}, {}, {}x{})".format(self.name, self.backend, *self.input_size)


def load(model_or_file, backend="auto", size=None, weights=None, threads=None, model=None, batch=1,
         **options):
    """A zoo model name, an .onnx file or a TensorRT engine (optionally ``backend:``-prefixed) ->
    SegmentationModel. ``size`` (width, height) or 'WxH' for zoo models (default: native);
    ``model`` names the zoo entry for a file without espnet-edge metadata; ``options`` go to the
    backend's opener (e.g. ``fp16=True`` when tensorrt builds from ONNX)."""
    return _open(model_or_file, backend, size, weights, threads, model, batch, options, for_masks=True)


def _source(model_or_file, backend, size, weights, model, batch):
    from espnet_edge.backends import Source, resolve_spec

    if isinstance(model_or_file, Source):
        return model_or_file
    if not isinstance(model_or_file, str) and not hasattr(model_or_file, "__fspath__"):
        raise UserError("give a zoo model name, an .onnx file or an engine path (got {!r})".format(model_or_file))
    return resolve_spec(os.fspath(model_or_file), backend=backend, model=model, weights=weights,
                        size=_size(size), batch=batch)


def _open(model_or_file, backend, size, weights, threads, model, batch, options, for_masks):
    from espnet_edge.backends import open_source

    source = _source(model_or_file, backend, size, weights, model, batch)
    if for_masks and source.kind == "model":
        from espnet_edge.zoo import require_weights

        require_weights(source.entry, source.weights, "segment with it")
    model = SegmentationModel(open_source(source, threads=threads, **options), source)
    if for_masks and source.kind != "model":
        try:
            model.info.require_trained("segment with it", source.path)
        except UserError:
            model.close()
            raise
    return model


def models(pattern=None):
    """Names of the zoo's models (timm-style), optionally filtered by a glob: models("espnetv2*city*")."""
    from espnet_edge.zoo import list_models

    names = list_models()
    if pattern is not None and not isinstance(pattern, str):
        raise UserError("models(pattern): give a glob such as 'espnetv2*city*' (got {!r})".format(pattern))
    return [n for n in names if fnmatch.fnmatchcase(n, pattern)] if pattern else names


def export(model, size=None, out_dir=None, weights=None, batch=1, fuse_pre=False, fuse_post=False,
           images=None, **options):
    """Export a zoo model to a verified ONNX file (workstation: needs torch and onnx) -> the report
    dict written beside it as <file>.report.json; ``report["onnx"]`` is the file's path. ``out_dir``
    defaults to ./export. ``options``: opset, trt_version, support, verify_limit."""
    from espnet_edge.zoo import get_model

    entry = get_model(model)
    try:
        from espnet_edge.host.export.pipeline import export_model
    except ImportError as exc:
        from espnet_edge.errors import MissingDependency

        raise MissingDependency("export needs the workstation extras: pip install espnet-edge[host] "
                                "({})".format(exc))
    if isinstance(images, str):
        images = [images]
    return export_model(entry, weights=weights, size=_size(size), batch=batch, fuse_pre=fuse_pre,
                        fuse_post=fuse_post, out_dir=out_dir, images=images, **options)


def bench(model_or_file, backend="auto", size=None, iters=None, warmup=defaults.WARMUP, duration=None, end_to_end=False,
          images=None, threads=None, batch=1, progress=False, pipelined=True, resize_frames=False, frame_graph=True,
          **options):
    """Time a network as `espnet-edge bench` does (``iters`` default defaults.BENCH_ITERS, or ``duration``
    seconds) -> the dict `bench --json` writes (runtime.benchmark.BenchResult): latency_ms {mean, p50,
    p90, p99, min, max}, fps, stages (h2d / compute / d2h; end to end every stage), iters, mode
    ('compute' or 'end-to-end'), backend, model, size, runner, host. ``end_to_end``: the threaded
    pipeline of `bench --end-to-end` (``pipelined=False``: `--sequential`) on ``images`` (a folder or a
    list of paths/BGR arrays; default synthetic frames); a zoo model then runs its exact frame graph for
    the frames' size, as the CLI does (``frame_graph=False``: `--no-frame-graph`)."""
    if isinstance(images, str):
        from espnet_edge.images import list_images

        images = list_images([images])
    # timing needs no trained weights: architecture-only zoo models run with their deterministic init
    if end_to_end:
        source = _source(model_or_file, backend, size, None, None, batch)
        segmenter = end_to_end_segmenter(source, images, frame_graph=frame_graph, threads=threads, options=options)
        loaded = SegmentationModel(segmenter.runner, source, segmenter)
    else:
        loaded = _open(model_or_file, backend, size, None, threads, None, batch, options, for_masks=False)
    with loaded:
        loaded.segmenter.resize_frames = resize_frames
        result = bench_segmenter(loaded.segmenter, warmup=warmup, iters=iters, duration=duration,
                                 end_to_end=end_to_end, images=images, pipelined=pipelined, progress=progress,
                                 source=loaded.source)
    return result.to_dict()


def end_to_end_segmenter(source, images=None, frame_graph=True, threads=None, label=None, options=None):
    """What end-to-end timing runs (`bench --end-to-end` and ``bench(end_to_end=True)``): a zoo model
    runs the exact frame graph for its frames' size (the first image's; synthetic frames at the
    network size without ``images``) unless ``frame_graph`` is False; a file runs as it is, with the
    one-line note of what its frame graph would gain (``label``: the file as the user named it)."""
    from espnet_edge.apps.frame_graph_choice import note_plain_graph, open_segmenter
    from espnet_edge.runtime.benchmark import synthetic_frames

    if images:
        first = images[0]
        frame = read_image(first) if isinstance(first, str) else first
    elif source.kind == "model":
        frame = synthetic_frames(source.size or source.entry.input_size, count=1)[0]
    else:
        frame = None
    segmenter = open_segmenter(source, frame, frame_graph=frame_graph, threads=threads, options=options,
                               label=label)
    if frame is None:  # synthetic frames come at the file's own frame (or network) size
        note_plain_graph(segmenter, segmenter.info.frame_size or segmenter.info.input_size, source, label)
    return segmenter


def bench_segmenter(segmenter, warmup=defaults.WARMUP, iters=None, duration=None, end_to_end=False, images=None,
                    pipelined=True, progress=True, label="bench", source=None):
    """The one benchmark behind `espnet-edge bench` and ``bench``: compute only (runtime.benchmark) or
    end to end (apps.e2e_bench, on ``images`` or synthetic frames at the graph's frame size), with the
    backend, model and host described -> BenchResult. ``source`` (backends.Source) names the files."""
    from espnet_edge.runtime.benchmark import host_details, run_benchmark, synthetic_frames

    info = segmenter.info
    if end_to_end:
        from espnet_edge.apps.e2e_bench import run_end_to_end

        result = run_end_to_end(segmenter, images or synthetic_frames(info.frame_size or info.input_size),
                                warmup=warmup, iters=iters, duration=duration, pipelined=pipelined,
                                progress=progress, label=label)
        if not images:
            result = result._replace(frames="synthetic")
    else:
        result = run_benchmark(segmenter, warmup=warmup, iters=iters, duration=duration, images=images,
                               progress=progress, label=label)
    runner = segmenter.runner
    description = runner.describe()
    choices = getattr(segmenter, "choices", None)
    return result._replace(backend=description.get("backend", runner.backend), model=info.name,
                           size="{}x{}".format(*info.input_size), runner=description,
                           model_details=_model_details(info, source), host=host_details(),
                           graph=list(choices) if choices else None)


def _model_details(info, source):
    details = {"name": info.name, "size": list(info.input_size), "batch": info.batch,
               "precision": info.precision, "fused": list(info.fused), "input_layout": info.input_layout,
               "classes": info.num_classes}
    if source is not None:
        if source.kind in ("onnx", "engine"):
            details[source.kind] = source.path
        if source.weights:
            details["weights"] = source.weights
    return details
