"""What the host package adds to the backend registry: the torch backend and ONNX export on demand.

Imported by espnet_edge.backends where the host package is installed; importing it does not import
torch (the opener and the exporter do, when called).
"""

from espnet_edge.errors import MissingDependency
from espnet_edge.runtime.base import register_backend, register_exporter


def register():
    register_backend("torch", "espnet_edge.host.backend:open_torch", ("model",),
                     "PyTorch eager, the authors' networks with their checkpoints (workstation)")
    register_exporter("espnet_edge.host.backend:export_on_demand")


def _need_torch(what):
    try:
        import torch  # noqa: F401
    except ImportError as exc:
        raise MissingDependency("{} needs torch ({}): pip install torch, or pass an exported --onnx FILE "
                                "/ --engine FILE instead".format(what, exc))


def open_torch(source, threads=None, device="cpu", **_options):
    _need_torch("the torch backend")
    from espnet_edge.host.torch_runner import TorchRunner

    return TorchRunner(source.entry, weights=source.weights, size=source.size, batch=source.batch,
                       threads=threads, device=device)


def export_on_demand(entry, weights=None, size=None, batch=1, **frame):
    """pipeline.ensure_onnx: the plain graph, or with ``frame_size=`` (and frame_dtype, overlay_alpha,
    trt_version, images) the frame graph for frames of that size; ``create=False`` only looks. A graph
    already in ./export or the cache needs no torch (a board running --model on tensorrt with the
    graph copied from the workstation); only an export does."""
    from espnet_edge.host.export.pipeline import ensure_onnx

    found = ensure_onnx(entry, weights=weights, size=size, batch=batch, **dict(frame, create=False))
    if found or not frame.get("create", True):
        return found
    _need_torch("running a zoo model on a file backend (its ONNX export)")
    return ensure_onnx(entry, weights=weights, size=size, batch=batch, **frame)
