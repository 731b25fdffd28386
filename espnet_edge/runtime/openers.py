"""Openers of the device backends, with the uniform signature ``open(source, threads=None, **options)``
that ``runtime.base.Backend`` calls. ``source`` is a resolved espnet_edge.backends.Source."""

from espnet_edge.runtime.onnxruntime_runner import OnnxRuntimeRunner


def open_onnxruntime(source, threads=None, **options):
    return OnnxRuntimeRunner(source.path, threads=threads, info=source.info, **options)


def open_tensorrt(source, threads=None, **options):
    from espnet_edge.runtime.tensorrt.runner import TensorRTRunner

    if source.kind == "engine":
        return TensorRTRunner.from_engine(source.path, info=source.info, **options)
    return TensorRTRunner.from_onnx(source.path, info=source.info, **options)
