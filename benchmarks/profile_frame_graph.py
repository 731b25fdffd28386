"""Where a frame graph's time goes: ONNX Runtime's per-node profile of the frame graph next to the
plain graph of the same network, sessions interleaved in one run.

    python benchmarks/profile_frame_graph.py PLAIN.onnx FRAME.onnx [FRAME2.onnx ...] [--runs 6]

Each graph runs with the ONNX Runtime runner's own session options (threads, denormals as zero,
the CPU PRelu rewrite) plus SessionOptions.enable_profiling. Prints, per graph, the median wall
time per run and the first graph's median over it (with the plain graph first: the compute-only
ratio of the runtime alone, without the pipeline's threads), the node time spent in the network
and in every other node (the frame graph's pre/postprocessing, nearly all of it full-frame
passes) with its output shape, and writes
benchmarks/results/profile_frame_graph-<host>-<time>.json. Not a test.
"""

import argparse
import collections
import json
import os
import platform
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
SHARED = os.path.join(os.path.dirname(ROOT), "shared")
CITYSCAPES = os.path.join(SHARED, "images", "cityscapes")

from espnet_edge.runtime.frame_nodes import is_frame_node  # noqa: E402


def _session(path, threads, profile_dir):
    import onnxruntime as ort

    from espnet_edge.runtime.onnxruntime_runner import _cpu_session_bytes

    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.add_session_config_entry("session.set_denormal_as_zero", "1")
    options.intra_op_num_threads = threads
    options.enable_profiling = True
    options.profile_file_prefix = os.path.join(profile_dir, os.path.basename(path))
    rewritten, _ = _cpu_session_bytes(path)
    return ort.InferenceSession(rewritten if rewritten is not None else path, options,
                                providers=["CPUExecutionProvider"])


def _feed(session, info, frame):
    """The graph's input for ``frame``, resized (INTER_AREA) to the frame size a frame graph takes."""
    import cv2

    from espnet_edge.preprocess import preprocess

    if info.frame_size and tuple(info.frame_size) != (frame.shape[1], frame.shape[0]):
        frame = cv2.resize(frame, tuple(info.frame_size), interpolation=cv2.INTER_AREA)
    batch = preprocess(frame, info.preprocess, info.input_size, layout=info.input_layout, fused_pre=info.fused_pre,
                       frame_size=info.frame_size, frame_dtype=info.frame_dtype)
    return {session.get_inputs()[0].name: batch}


def summarise(trace, warmup):
    """ONNX Runtime's chrome-trace events -> {node: {op, ms (mean per run), shape}} over the timed runs."""
    per_node = collections.OrderedDict()
    for event in trace:
        if event.get("cat") != "Node" or not event["name"].endswith("_kernel_time"):
            continue
        args = event.get("args", {})
        name = event["name"][:-len("_kernel_time")]
        row = per_node.setdefault(name, {"op": args.get("op_name"), "us": [], "shape": args.get("output_type_shape")})
        row["us"].append(event["dur"])
    out = collections.OrderedDict()
    for name, row in per_node.items():
        timed = row["us"][warmup:]  # one event per node per run, in run order
        if timed:
            out[name] = {"op": row["op"], "ms": sum(timed) / 1000.0 / len(timed), "shape": row["shape"]}
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("graphs", nargs="+", help="plain graph first, then frame graphs")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("--warmup", type=int, default=2)
    args = parser.parse_args()

    import numpy as np

    from espnet_edge.images import list_images, read_image
    from espnet_edge.runtime.onnxruntime_runner import read_metadata
    from espnet_edge.runtime.model_info import ModelInfo

    frame = read_image(list_images([CITYSCAPES])[0])
    profile_dir = tempfile.mkdtemp(prefix="ort-profile-")
    sessions = []
    for path in args.graphs:
        info = ModelInfo.from_metadata(read_metadata(path), source=path)
        session = _session(path, args.threads, profile_dir)
        sessions.append((path, session, _feed(session, info, frame)))
    walls = dict((path, []) for path in args.graphs)
    for index in range(args.warmup + args.runs):  # interleaved: load changes hit every graph alike
        for path, session, feed in sessions:
            start = time.perf_counter()
            session.run(None, feed)
            if index >= args.warmup:
                walls[path].append((time.perf_counter() - start) * 1000.0)
    report = []
    for path, session, _ in sessions:
        with open(session.end_profiling()) as handle:
            nodes = summarise(json.load(handle), args.warmup)
        total = sum(n["ms"] for n in nodes.values())
        net = sum(n["ms"] for name, n in nodes.items() if not is_frame_node(name))
        wall = float(np.median(walls[path]))
        first = float(np.median(walls[args.graphs[0]]))
        print("\n{}\n  wall {:.1f} ms/frame (median; the first graph's / this: {:.3f}), node time {:.1f} ms, "
              "network nodes {:.1f} ms, other {:.1f} ms".format(os.path.basename(path), wall, first / wall, total, net,
                                                                 total - net))
        others = [(name, n) for name, n in nodes.items() if is_frame_node(name)]
        for name, n in others:
            if n["ms"] >= 0.05:
                print("    {:8.2f} ms  {:<14} {:<48} {}".format(n["ms"], n["op"], name[:48], n["shape"]))
        report.append({"graph": path, "wall_ms_median": wall, "wall_ms": walls[path], "node_ms": total,
                       "network_ms": net,
                       "nodes": nodes})
    out_dir = os.path.join(HERE, "results")
    os.makedirs(out_dir, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = os.path.join(out_dir, "profile_frame_graph-{}-{}.json".format(platform.node(), stamp))
    with open(out, "w") as handle:
        json.dump({"threads": args.threads, "runs": args.runs, "graphs": report,
                   "load_average": os.getloadavg()}, handle, indent=1)
    print("wrote " + out)


if __name__ == "__main__":
    main()
