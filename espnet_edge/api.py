"""The Python API: ``espnet_edge.load``, ``models``, ``export``, ``bench`` (re-exported by the package).

    import espnet_edge as ee
    with ee.load("espnetv2-s2.0-pascal-384") as model:
        result = model.segment("cat.jpg")          # also a PIL image, or a numpy array + channels=
    print(result.classes_present())

Every name resolves as the CLI's --model/--onnx/--engine/--backend do (espnet_edge.backends), so a
model means the same backend here and in every command. Heavy libraries load on first use.
"""

import fnmatch

from espnet_edge import defaults
from espnet_edge.errors import UserError


def _size(size):
    if size is None or isinstance(size, tuple) and len(size) == 2:
        return size
    if isinstance(size, str):
        from espnet_edge.utils.parsing import parse_size

        return parse_size(size)
    if isinstance(size, list) and len(size) == 2:
        return tuple(size)
    raise UserError("size must be (width, height) or 'WxH' (got {!r})".format(size))


class SegmentationModel(object):
    """A loaded network; ``segment(image)`` -> Segmentation. Close it (or use ``with``) when done."""

    def __init__(self, runner, segmenter=None):
        """``segmenter``: one already made over ``runner`` (e.g. apps.frame_graph_choice's router)."""
        from espnet_edge.runtime.segmenter import Segmenter

        self.segmenter = segmenter or Segmenter(runner)
        self.info = self.segmenter.info

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


def _open(model_or_file, backend, size, weights, threads, model, batch, options, for_masks):
    from espnet_edge.backends import Source, open_source, resolve_spec

    if isinstance(model_or_file, Source):
        source = model_or_file
    else:
        source = resolve_spec(str(model_or_file), backend=backend, model=model, weights=weights,
                              size=_size(size), batch=batch)
    if for_masks and source.kind == "model":
        from espnet_edge.zoo import require_weights

        require_weights(source.entry, source.weights, "segment with it")
    model = SegmentationModel(open_source(source, threads=threads, **options))
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
          images=None, threads=None, batch=1, progress=False, **options):
    """Time a network as `espnet-edge bench` does (``iters`` default 100, or ``duration`` seconds) ->
    dict: latency_ms {mean, p50, p90, p99, min, max}, fps, iters, mode ('compute' or 'end-to-end'),
    backend, model, size; ``images`` (a folder or a list of paths/BGR arrays) for ``end_to_end``."""
    from espnet_edge.runtime.benchmark import run_benchmark

    if isinstance(images, str):
        from espnet_edge.images import list_images

        images = list_images([images])
    # timing needs no trained weights: architecture-only zoo models run with their deterministic init
    with _open(model_or_file, backend, size, None, threads, None, batch, options, for_masks=False) as loaded:
        result = run_benchmark(loaded.segmenter, warmup=warmup, iters=iters, duration=duration,
                               end_to_end=end_to_end, images=images, progress=progress)
        result.update(backend=loaded.backend, model=loaded.name, size="{}x{}".format(*loaded.input_size))
    return result
