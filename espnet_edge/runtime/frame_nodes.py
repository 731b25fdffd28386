"""Which nodes of a frame graph (``export --fuse-pre --input-size``) are the frame graph's own:
the in-graph preprocessing and overlay around the network, exact only in float32.

The exporter names them after FrameGraph's modules (host/export/frame_graph.py): ``/pre/...``,
``/overlay/...`` and the top-level ``/Cast`` (frame to float, overlay to uint8) and ``/ArgMax``
(--fuse-post); the network's nodes are all under ``/net/``. The ONNX Runtime lowering of the
overlay tail (runtime/overlay_tail.py) names its nodes ``ort_overlay_tail_...``; the buffers of
FrameGraph's modules (initializers) are ``pre.<name>`` / ``overlay.<name>``. TensorRT's ONNX parser
names each layer after its ONNX node and makes repeated names unique with a ``_<n>`` suffix
(onnx-tensorrt ImporterContext::registerLayer / generateUniqueName, release/8.2-GA and 10.1-GA),
which keeps every pattern below; constants from initializers take the initializer's name
(convertToTensor in onnx2trt_utils.cpp).

Only graphs whose metadata carries a frame size are frame graphs (``is_frame_graph``): a plain
export has its network's nodes at the top level, where ``/Cast`` is the network's own.
"""

import re

_FRAME_NAME_RE = re.compile(r"^/(pre|overlay)/|^/(Cast|ArgMax)(_\d+)*$|^ort_overlay_tail_|^(pre|overlay)\.")
FRAME_SIZE_KEY = "espnet_edge.frame_size"  # ModelInfo.to_metadata(): null for plain graphs


def is_frame_node(name):
    """True for a node (or TensorRT layer, or initializer) of the frame graph around the network."""
    return _FRAME_NAME_RE.match(name or "") is not None


def is_frame_graph(metadata):
    """``metadata``: the ONNX metadata_props as a dict. True when the graph takes the raw frame."""
    value = (metadata or {}).get(FRAME_SIZE_KEY)
    return value not in (None, "", "null", "None")


def frame_node_names(model):
    """Names of the frame graph's own nodes in an ONNX ModelProto (an empty set for plain graphs).
    Reads only the proto's fields, so it needs no onnx import."""
    if not is_frame_graph(dict((p.key, p.value) for p in model.metadata_props)):
        return set()
    return set(node.name for node in model.graph.node if is_frame_node(node.name))
