"""Where INT8 error enters a QDQ graph: every Conv's tensors compared between the fp32 and the QDQ
graph in ONNX Runtime (Polygraphy-style), and what each Conv costs (multiply-accumulates), to say what a
float Conv costs in speed."""

import numpy as np

from espnet_edge.host.export.int8_qdq import conv_names, with_outputs

LAYER_CHUNK = 12  # Convs whose tensors are exposed per onnxruntime run (bounds memory at 1024x512)


def _relative_error(reference, candidate):
    reference = reference.astype(np.float64)
    scale = np.linalg.norm(reference)
    return float(np.linalg.norm(candidate.astype(np.float64) - reference) / (scale if scale > 0 else 1.0))


def _qdq_conv_inputs(qdq):
    """Conv output name -> (fp32 activation before QuantizeLinear, its DequantizeLinear output,
    weight DequantizeLinear output or None) in a QDQ graph."""
    producer = {out: node for node in qdq.graph.node for out in node.output}
    found = {}
    for node in qdq.graph.node:
        if node.op_type != "Conv":
            continue
        act_dq = producer.get(node.input[0])
        if act_dq is None or act_dq.op_type != "DequantizeLinear":
            continue
        act_q = producer.get(act_dq.input[0])
        weight_dq = producer.get(node.input[1])
        found[node.output[0]] = (act_q.input[0] if act_q is not None else None, node.input[0],
                                 node.input[1] if weight_dq is not None and weight_dq.op_type == "DequantizeLinear"
                                 else None)
    return found


def layer_errors(fp32_path, qdq_path, batches, progress=None):
    """Polygraphy-style comparison of every Conv's tensors in the fp32 and QDQ graphs, on ``batches``.

    -> [{'conv', 'input_error', 'output_error', 'activation_noise', 'weight_noise', 'injected'}],
    largest ``injected`` first. ``input_error``/``output_error``: relative L2 error of the Conv's input
    and output in the QDQ graph against fp32 (what has accumulated there). ``activation_noise``: the
    relative error int8 rounding (and clipping) adds to this Conv's input, measured inside the QDQ graph
    (QuantizeLinear input vs DequantizeLinear output), so upstream error does not count;
    ``weight_noise``: the same for its weights. ``injected`` is their sum: what this Conv's
    quantization itself costs, the order in which Convs go back to float. A Conv reading the folded
    raw-pixel input (``int8_input``) has no activation noise; its weights are compared with the
    folded float weights.
    """
    import onnx
    from onnx import numpy_helper

    from espnet_edge.host.export.int8_input import PIXELS, fold_weights, normalisation_affine
    from espnet_edge.host.export.pipeline import ort_session
    from espnet_edge.runtime.tensorrt.onnxmeta import model_info

    fp32, qdq = onnx.load(fp32_path), onnx.load(qdq_path)
    input_name = fp32.graph.input[0].name
    weights = {init.name: numpy_helper.to_array(init) for init in fp32.graph.initializer}
    folded = set(n.output[0] for n in qdq.graph.node if n.op_type == "Conv" and n.input[0] == PIXELS)
    if folded:  # their int8 weights are the folded ones (int8_input): compare with those in float
        affine = normalisation_affine(model_info(fp32_path).preprocess)
        weights.update((n.input[1], fold_weights(weights[n.input[1]], *affine)) for n in fp32.graph.node
                       if n.op_type == "Conv" and n.output[0] in folded)
    qdq_inputs = _qdq_conv_inputs(qdq)
    network_convs = set(conv_names(fp32))
    convs = [(n.name, n.input[0], n.output[0], n.input[1]) for n in fp32.graph.node if n.name in network_convs]
    graph_inputs = set(i.name for i in fp32.graph.input)
    totals = {name: [0.0, 0.0, 0.0, 0.0] for name, _, _, _ in convs}
    for start in range(0, len(convs), LAYER_CHUNK):
        chunk = convs[start:start + LAYER_CHUNK]
        names = sorted(set(t for _, i, o, _ in chunk for t in (i, o) if t not in graph_inputs))
        extra = sorted(set(t for _, _, o, _ in chunk for t in qdq_inputs.get(o, ())
                           if t and t not in graph_inputs) - set(names))
        ref_session = ort_session(with_outputs(fp32, names))
        qdq_session = ort_session(with_outputs(qdq, names + extra))
        ref_names = [o.name for o in ref_session.get_outputs()]
        qdq_names = [o.name for o in qdq_session.get_outputs()]
        for batch in batches:
            ref = dict(zip(ref_names, ref_session.run(ref_names, {input_name: batch})))
            ref[input_name] = batch
            got = dict(zip(qdq_names, qdq_session.run(qdq_names, {input_name: batch})))
            got[input_name] = batch
            for name, conv_in, conv_out, weight in chunk:
                row = totals[name]
                row[0] += _relative_error(ref[conv_in], got[conv_in])
                row[1] += _relative_error(ref[conv_out], got[conv_out])
                before, after, weight_dq = qdq_inputs.get(conv_out, (None, None, None))
                if before and after:
                    row[2] += _relative_error(got[before], got[after])
                if weight_dq and weight in weights:
                    row[3] += _relative_error(weights[weight], got[weight_dq])
        if progress is not None:
            progress.update(len(chunk))
    rows = []
    for name, _, _, _ in convs:
        err_in, err_out, act, wgt = (v / len(batches) for v in totals[name])
        rows.append({"conv": name, "input_error": err_in, "output_error": err_out, "activation_noise": act,
                     "weight_noise": wgt, "injected": act + wgt})
    rows.sort(key=lambda row: -row["injected"])
    return rows


def conv_macs(model):
    """-> {node name: multiply-accumulates per frame} of every Conv and ConvTranspose of ``model`` (from
    its weight shapes and the inferred output / input sizes; batch 1)."""
    import onnx

    inferred = onnx.shape_inference.infer_shapes(model)
    dims = {}
    for value in list(inferred.graph.input) + list(inferred.graph.value_info) + list(inferred.graph.output):
        dims[value.name] = [d.dim_value for d in value.type.tensor_type.shape.dim]
    weights = {init.name: list(init.dims) for init in model.graph.initializer}
    producer = {out: node for node in model.graph.node for out in node.output}
    macs = {}
    for node in model.graph.node:
        if node.op_type not in ("Conv", "ConvTranspose"):
            continue
        weight = weights.get(node.input[1])
        if weight is None and node.input[1] in producer:  # a QDQ graph: DequantizeLinear of the weights
            weight = weights.get(producer[node.input[1]].input[0])
        spatial = dims.get(node.output[0] if node.op_type == "Conv" else node.input[0], [])[2:]
        if weight and spatial and all(spatial):
            macs[node.name] = int(np.prod(spatial) * np.prod(weight))
    return macs


def float_share(fp32_path, float_convs):
    """How much of the network's arithmetic stays float: the multiply-accumulates of ``float_convs`` and
    of every ConvTranspose (never quantized) against all network Convs and ConvTransposes (a frame
    graph's own preprocessing Convs excluded). What a float Conv costs on an INT8 GPU scales with it."""
    import onnx

    model = onnx.load(fp32_path)
    network = set(conv_names(model)) | set(n.name for n in model.graph.node if n.op_type == "ConvTranspose")
    macs = dict((name, count) for name, count in conv_macs(model).items() if name in network)
    floating = set(float_convs) | set(n.name for n in model.graph.node if n.op_type == "ConvTranspose")
    total = sum(macs.values())
    float_macs = sum(count for name, count in macs.items() if name in floating)
    return {"network_gmacs": round(total / 1e9, 4), "float_gmacs": round(float_macs / 1e9, 4),
            "float_fraction": round(float_macs / float(total), 4) if total else None}
