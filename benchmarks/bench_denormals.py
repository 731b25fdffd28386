"""Denormal weights on this CPU: before/after flushing, side by side in one run.

ONNX Runtime (CPU provider, the runner's PRelu rewrite applied to both): the graph exported without
the denormal flush and without ``session.set_denormal_as_zero`` ("before"), and with both ("after"),
plus each change alone. PyTorch eager: the checkpoint as published, torch.set_flush_denormal off/on.
Variants run interleaved (one iteration each in turn), medians; masks compared on a real frame.

    python benchmarks/bench_denormals.py [--model espnet-q8] [--size 1024x512] [--threads 2] [--rounds 5]

Prints a table, writes benchmarks/results/bench_denormals-<host>-<time>.json. Not a test.
"""

import argparse
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
FRAME = os.path.join(SHARED, "images", "cityscapes", "frankfurt_000000_000294_leftImg8bit.png")


def ort_session(path, threads, daz):
    import onnxruntime as ort

    from espnet_edge.runtime.onnxruntime_runner import _cpu_session_bytes

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # interleaved sessions
    if daz:
        options.add_session_config_entry("session.set_denormal_as_zero", "1")
    data, _ = _cpu_session_bytes(path)
    return ort.InferenceSession(data or path, options, providers=["CPUExecutionProvider"])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="espnet-q8")
    parser.add_argument("--size", default="1024x512")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-torch", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("ESPNET_EDGE_WEIGHTS", os.path.join(SHARED, "weights"))

    import numpy as np
    import torch

    from espnet_edge import zoo
    from espnet_edge.host.export.pipeline import export_model
    from espnet_edge.host.models import build_model
    from espnet_edge.images import read_image
    from espnet_edge.preprocess import preprocess
    from espnet_edge.runtime.benchmark import host_details
    from espnet_edge.utils.parsing import parse_size

    size = parse_size(args.size)
    entry = zoo.get_model(args.model)
    batch = preprocess(read_image(FRAME), entry.preprocess, size)
    work = tempfile.mkdtemp(prefix="denormals-")
    raw = export_model(entry, size=size, out_path=os.path.join(work, "raw.onnx"), flush_denormals=False)
    flushed = export_model(entry, size=size, out_path=os.path.join(work, "flushed.onnx"))
    count = flushed["denormals_flushed"]["total"]
    print("{} at {}: {} denormal weights flushed in {} tensors".format(
        args.model, args.size, count, len(flushed["denormals_flushed"]["per_tensor"])), flush=True)
    variants = [
        ("onnxruntime: before (weights as published, no DAZ)", ort_session(raw["onnx"], args.threads, False)),
        ("onnxruntime: weights flushed only", ort_session(flushed["onnx"], args.threads, False)),
        ("onnxruntime: DAZ session option only", ort_session(raw["onnx"], args.threads, True)),
        ("onnxruntime: after (flushed + DAZ, what espnet-edge does)", ort_session(flushed["onnx"], args.threads, True)),
    ]

    def ort_run(session):
        return lambda: session.run(None, {"input": batch})[0]

    runs = [(label, ort_run(session)) for label, session in variants]
    if not args.no_torch:
        torch.set_num_threads(args.threads)
        net = build_model(entry).eval()
        tensor = torch.from_numpy(batch)

        def torch_run(flush):
            def go():
                torch.set_flush_denormal(flush)
                with torch.inference_mode():
                    return net(tensor).numpy()
            return go

        runs += [("torch eager: before (no flush)", torch_run(False)),
                 ("torch eager: after (set_flush_denormal)", torch_run(True))]
    masks = {}
    for label, run in runs:  # warm-up, and the masks
        masks[label] = np.argmax(run(), axis=1)
    times = dict((label, []) for label, _ in runs)
    for _ in range(args.rounds):
        for label, run in runs:
            start = time.perf_counter()
            run()
            times[label].append((time.perf_counter() - start) * 1000.0)
    torch.set_flush_denormal(False)
    rows = []
    reference = masks[runs[0][0]]
    for label, _ in runs:
        family = label.split(":")[0]
        before = np.median(times[next(l for l, _ in runs if l.startswith(family) and "before" in l)])
        median = float(np.median(times[label]))
        rows.append({"variant": label, "median_ms": median, "min_ms": float(np.min(times[label])),
                     "speedup_vs_before": float(before / median),
                     "mask_agreement_vs_ort_before": float(np.mean(masks[label] == reference))})
    lines = ["| variant | median ms | min ms | speed-up vs before | mask agreement |", "|---|---|---|---|---|"]
    for r in rows:
        lines.append("| {} | {:.1f} | {:.1f} | {:.2f}x | {:.4f} |".format(
            r["variant"], r["median_ms"], r["min_ms"], r["speedup_vs_before"], r["mask_agreement_vs_ort_before"]))
    print("\n".join(lines))
    host = host_details()
    load = os.getloadavg()
    print("machine: {} ({} cores visible), load average {:.1f} at the end; {} threads, {} rounds".format(
        host["cpu"], host["cpu_count"], load[0], args.threads, args.rounds))
    out_dir = os.path.join(HERE, "results")
    os.makedirs(out_dir, exist_ok=True)
    out = os.path.join(out_dir, "bench_denormals-{}-{}.json".format(platform.node(), time.strftime("%Y%m%d-%H%M%S")))
    with open(out, "w") as handle:
        json.dump({"model": args.model, "size": args.size, "threads": args.threads, "rounds": args.rounds,
                   "denormals_flushed": flushed["denormals_flushed"], "rows": rows, "times_ms": times,
                   "host": host, "load_average_end": load, "table": lines}, handle, indent=1)
    print("wrote " + out)


if __name__ == "__main__":
    main()
