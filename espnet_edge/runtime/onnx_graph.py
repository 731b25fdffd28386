"""Small in-memory edits of ONNX graphs shared by the runners' lowerings (onnx imported by the caller)."""


def set_nodes(graph, nodes):
    """Make ``nodes`` the graph's node list and drop the initializers no node reads any more."""
    del graph.node[:]
    graph.node.extend(nodes)
    used = set(name for node in graph.node for name in node.input)
    kept = [init for init in graph.initializer if init.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)
