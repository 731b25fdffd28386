"""Mask agreement of the frame graphs' in-graph preprocessing with the exact CPU path, on every image.

For each model at its network size (default 1024x512) and every image in ../shared/images, each at
its own frame size (the frame size a graph exported with `--fuse-pre --input-size WxH` for that
source would take): the in-graph preprocessing (frame_graph.preprocess_onnx, the same operators
the frame graph holds) and the exact CPU preprocessing (espnet_edge.preprocess) each feed the same
exported network; the class maps are compared at the network size and, nearest-resized, at the
frame size. The network and the argmax are the same in both, so this is the frame graph's mask
agreement without exporting one whole graph per frame size. (bench_end_to_end.py checks the whole
2048x1024 overlay graphs on the Cityscapes frames.)

    python benchmarks/agreement_every_image.py [--size 1024x512] [--threads 2]

Prints a table and writes benchmarks/results/agreement_every_image-<host>-<time>.json. Not a test
(a network run per image and model at 1024x512 takes seconds on a CPU).
"""

import argparse
import json
import os
import platform
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
SHARED = os.path.join(os.path.dirname(ROOT), "shared")
IMAGES = os.path.join(SHARED, "images")
MODELS = ("espnet-q8", "espnetv2-s2.0-city-1024")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1024x512")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--work", default=os.path.join(HERE, "results", "onnx"))
    args = parser.parse_args()
    os.environ.setdefault("ESPNET_EDGE_WEIGHTS", os.path.join(SHARED, "weights"))

    import numpy as np
    import onnxruntime as ort

    from espnet_edge import zoo
    from espnet_edge.host.export.frame_graph import preprocess_onnx
    from espnet_edge.host.export.pipeline import export_model
    from espnet_edge.images import list_images, read_image
    from espnet_edge.preprocess import preprocess
    from espnet_edge.runtime.onnxruntime_runner import OnnxRuntimeRunner
    from espnet_edge.runtime.segmenter import resize_mask
    from espnet_edge.utils.parsing import parse_size

    size = parse_size(args.size)
    paths = list_images([IMAGES])
    rows = []
    for name in args.models.split(","):
        entry = zoo.get_model(name)
        runner = OnnxRuntimeRunner(export_model(entry, size=size, out_dir=args.work)["onnx"], threads=args.threads)
        options = ort.SessionOptions()
        options.log_severity_level = 3
        for index, path in enumerate(paths):
            frame = read_image(path)
            frame_size = (frame.shape[1], frame.shape[0])
            pre = ort.InferenceSession(preprocess_onnx(entry.preprocess, frame_size, size).SerializeToString(),
                                       options, providers=["CPUExecutionProvider"])
            graph_x = pre.run(None, {"input": frame[None].astype(np.float32)})[0]
            cpu_x = preprocess(frame, entry.preprocess, size)
            masks = [np.argmax(runner.infer(x), axis=1)[0].astype(np.uint8) for x in (graph_x, cpu_x)]
            full = [resize_mask(m, frame_size) for m in masks]
            row = {"model": name, "image": os.path.relpath(path, IMAGES), "frame_size": list(frame_size),
                   "size": list(size), "max_abs_input_diff": float(np.max(np.abs(graph_x - cpu_x))),
                   "agreement_network_size": float(np.mean(masks[0] == masks[1])),
                   "agreement_frame_size": float(np.mean(full[0] == full[1]))}
            rows.append(row)
            print("[{}/{}] {} {} {}x{}: agreement {:.4%} (frame size {:.4%}), input max |diff| {:.2e}".format(
                index + 1, len(paths), name, row["image"], frame_size[0], frame_size[1],
                row["agreement_network_size"], row["agreement_frame_size"], row["max_abs_input_diff"]), flush=True)
        runner.close()
    lines = ["| model | image | frame size | mask agreement (network size) | (frame size) | input max abs diff |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append("| {} | {} | {}x{} | {:.4%} | {:.4%} | {:.1e} |".format(
            r["model"], r["image"], r["frame_size"][0], r["frame_size"][1], r["agreement_network_size"],
            r["agreement_frame_size"], r["max_abs_input_diff"]))
    for name in args.models.split(","):
        mine = [r for r in rows if r["model"] == name]
        lines.append("| {} | **min over {} images** | | {:.4%} | {:.4%} | {:.1e} |".format(
            name, len(mine), min(r["agreement_network_size"] for r in mine),
            min(r["agreement_frame_size"] for r in mine), max(r["max_abs_input_diff"] for r in mine)))
    print("\n".join(lines))
    out_dir = os.path.join(HERE, "results")
    os.makedirs(out_dir, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = os.path.join(out_dir, "agreement_every_image-{}-{}.json".format(platform.node(), stamp))
    with open(out, "w") as handle:
        json.dump({"size": list(size), "rows": rows, "table": lines}, handle, indent=1)
    print("wrote " + out)


if __name__ == "__main__":
    main()
