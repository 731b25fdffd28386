"""What each part of the uint8 frame graph costs next to the network alone, in ONNX Runtime.

    python benchmarks/frame_graph_parts.py [--models espnet-q8,espnetv2-s2.0-city-1024] [--rounds 6]

Per model at 1024x512 with 2048x1024 Cityscapes frames, sessions interleaved in one process (the
runner's own session options and CPU rewrites, 2 threads), median per run:

- network: the plain graph on the normalised input (what `bench` measures, compute only);
- preprocessing alone: the in-graph preprocessing as its own graph (float32 frame in);
- preprocessing + network: `export --fuse-pre` (uint8 frame in, logits out);
- whole frame graph: `export --fuse-pre --fuse-overlay` (uint8 frame in, overlay out).

The ratio network / whole frame graph is the best `bench --end-to-end` can show on this CPU
before the pipeline's own threads take their share. Prints a table and writes
benchmarks/results/frame_graph_parts-<host>-<time>.json. Not a test.
"""

import argparse
import os
import platform
import time

from bench_end_to_end import CITYSCAPES, FRAME_SIZE, HERE, MODELS, SHARED, TRT_SUPPORT  # the same graphs and frames

SIZE = (1024, 512)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--per-round", type=int, default=3)
    parser.add_argument("--work", default=os.path.join(HERE, "results", "onnx"))
    args = parser.parse_args()
    os.environ.setdefault("ESPNET_EDGE_WEIGHTS", os.path.join(SHARED, "weights"))

    import numpy as np
    import onnxruntime as ort

    from espnet_edge import zoo
    from espnet_edge.host.export.frame_graph import preprocess_onnx
    from espnet_edge.host.export.pipeline import export_model
    from espnet_edge.images import list_images, read_image
    from espnet_edge.runtime.benchmark import host_details
    from espnet_edge.runtime.onnxruntime_runner import OnnxRuntimeRunner
    from espnet_edge.utils.atomic import write_json

    frame = read_image(list_images([CITYSCAPES])[0])[None]
    load_start = os.getloadavg()
    rows = []
    for name in args.models.split(","):
        entry = zoo.get_model(name)
        common = dict(size=SIZE, fuse_pre=True, input_size=FRAME_SIZE, frame_dtype="uint8", trt_version="10",
                      support=TRT_SUPPORT, out_dir=args.work)
        graphs = {
            "network": export_model(entry, size=SIZE, out_dir=args.work)["onnx"],
            "preprocessing + network": export_model(entry, **common)["onnx"],
            "whole frame graph": export_model(entry, overlay_alpha=0.5, images=[CITYSCAPES], **common)["onnx"],
        }
        runners = dict((label, OnnxRuntimeRunner(path, threads=args.threads)) for label, path in graphs.items())
        options = ort.SessionOptions()
        options.log_severity_level = 3
        options.intra_op_num_threads = args.threads
        options.add_session_config_entry("session.set_denormal_as_zero", "1")
        pre = ort.InferenceSession(preprocess_onnx(entry.preprocess, FRAME_SIZE, SIZE).SerializeToString(),
                                   options, providers=["CPUExecutionProvider"])
        as_float = frame.astype(np.float32)
        normalised = pre.run(None, {"input": as_float})[0]
        calls = {
            "network": lambda: runners["network"].infer(normalised),
            "preprocessing alone": lambda: pre.run(None, {"input": as_float}),
            "preprocessing + network": lambda: runners["preprocessing + network"].infer(frame),
            "whole frame graph": lambda: runners["whole frame graph"].infer(frame),
        }
        times = dict((label, []) for label in calls)
        for label, call in calls.items():  # warm-up
            call()
        for round_index in range(args.rounds):
            for label, call in calls.items():
                for _ in range(args.per_round):
                    start = time.perf_counter()
                    call()
                    times[label].append((time.perf_counter() - start) * 1000.0)
            print("{} round {}/{}".format(name, round_index + 1, args.rounds), flush=True)
        network = float(np.median(times["network"]))
        for label, values in times.items():
            median = float(np.median(values))
            rows.append({"model": name, "part": label, "median_ms": median,
                         "added_to_network_ms": None if label in ("network", "preprocessing alone")
                         else median - network,
                         "network_over_this": network / median if label != "preprocessing alone" else None,
                         "runs": len(values),
                         "cpu_rewrites": runners[label].cpu_rewrites if label in runners else None})
        for runner in runners.values():
            runner.close()
    lines = ["| model | graph | median ms | added to the network (ms) | network / this |", "|---|---|---|---|---|"]
    for r in rows:
        lines.append("| {} | {} | {:.1f} | {} | {} |".format(
            r["model"], r["part"], r["median_ms"],
            "-" if r["added_to_network_ms"] is None else "{:.1f}".format(r["added_to_network_ms"]),
            "-" if r["network_over_this"] is None else "{:.3f}".format(r["network_over_this"])))
    print("\n".join(lines))
    host = host_details()
    load_end = os.getloadavg()
    note = "machine: {} ({} cores visible), {} ONNX Runtime threads, load average {:.1f} -> {:.1f}".format(
        host["cpu"], host["cpu_count"], args.threads, load_start[0], load_end[0])
    print(note)
    out_dir = os.path.join(HERE, "results")
    os.makedirs(out_dir, exist_ok=True)
    out = os.path.join(out_dir, "frame_graph_parts-{}-{}.json".format(platform.node(), time.strftime("%Y%m%d-%H%M%S")))
    write_json(out, {"size": list(SIZE), "frame_size": list(FRAME_SIZE), "threads": args.threads,
                     "rounds": args.rounds, "per_round": args.per_round, "rows": rows, "host": host,
                     "load_average": [load_start, load_end], "note": note, "table": lines})
    print("wrote " + out)


if __name__ == "__main__":
    main()
