"""The whole pipeline against the network alone, on this CPU with ONNX Runtime.

For each model at its network size (default 1024x512), side by side in one run, rounds interleaved:
- compute only: one preprocessed batch through the plain graph (`bench`);
- runtime only, frame graph uint8: one decoded frame through the uint8 frame graph, no pipeline
  (what the graph adds to the network, apart from the pipeline's threads);
- end to end, frame graph (`export --fuse-pre --input-size 2048x1024 --fuse-overlay`): the decoded
  2048x1024 Cityscapes frame in, the finished overlay out; uint8 frames (what ONNX Runtime and
  TensorRT >= 10 take) and float32 frames (the TensorRT 8.2 graph);
- end to end, CPU path (today's): exact CPU preprocessing, plain graph, argmax, mask resize and
  overlay in numpy.
All end-to-end runs are pipelined (feeder, inference and render threads) and render legend + HUD.
Also: mask agreement of the frame graph with the exact CPU path on the Cityscapes frames.

    python benchmarks/bench_end_to_end.py [--threads 2] [--iters 6] [--rounds 2] [--size 1024x512]
                                          [--baseline DIR]

--baseline DIR: frame graphs exported earlier (the same file names, e.g. another checkout's
benchmarks/results/onnx) also run end to end, in the same interleaved rounds: old against new
graph in one run, on the same machine load.

Prints a table and writes benchmarks/results/bench_end_to_end-<host>-<time>.json. Not a test.
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
CITYSCAPES = os.path.join(SHARED, "images", "cityscapes")
TRT_SUPPORT = os.path.join(SHARED, "tensorrt", "onnx_trt_operator_support.json")
MODELS = ("espnet-q8", "espnetv2-s2.0-city-1024")
FRAME_SIZE = (2048, 1024)


def agreement(fused_segmenter, plain_segmenter, frames):
    """Share of frame pixels whose class agrees: frame graph vs exact CPU path (nearest-resized mask)."""
    import numpy as np

    rows = []
    for frame in frames:
        mask, _ = fused_segmenter.segment_overlay(frame)
        rows.append(float(np.mean(mask == plain_segmenter.segment(frame))))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--iters", type=int, default=6, help="frames per mode per round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--size", default="1024x512")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--work", default=os.path.join(HERE, "results", "onnx"))
    parser.add_argument("--baseline", help="folder of frame graphs exported earlier, run beside the new ones")
    args = parser.parse_args()
    if args.baseline and os.path.abspath(args.baseline) == os.path.abspath(args.work):
        parser.error("--baseline {} is where this run exports its graphs (--work); copy the old graphs "
                     "elsewhere first".format(args.baseline))
    if args.baseline and not os.path.isdir(args.baseline):
        parser.error("--baseline {} is not a folder".format(args.baseline))
    os.environ.setdefault("ESPNET_EDGE_WEIGHTS", os.path.join(SHARED, "weights"))

    from espnet_edge import zoo
    from espnet_edge.apps.e2e_bench import run_end_to_end
    from espnet_edge.host.export.pipeline import export_model
    from espnet_edge.images import list_images, read_image
    from espnet_edge.runtime.benchmark import host_details, run_benchmark
    from espnet_edge.runtime.onnxruntime_runner import OnnxRuntimeRunner
    from espnet_edge.runtime.segmenter import Segmenter
    from espnet_edge.utils.parsing import parse_size

    size = parse_size(args.size)
    images = list_images([CITYSCAPES])
    frames = [read_image(p) for p in images]
    load_start = os.getloadavg()
    results = []
    for name in args.models.split(","):
        entry = zoo.get_model(name)
        plain = export_model(entry, size=size, out_dir=args.work)
        fused_u8 = export_model(entry, size=size, fuse_pre=True, input_size=FRAME_SIZE, overlay_alpha=0.5,
                                frame_dtype="uint8", trt_version="10", support=TRT_SUPPORT, out_dir=args.work,
                                images=[CITYSCAPES])
        fused_f32 = export_model(entry, size=size, fuse_pre=True, input_size=FRAME_SIZE, overlay_alpha=0.5,
                                 trt_version="8.2", support=TRT_SUPPORT, out_dir=args.work, images=[CITYSCAPES])
        segs = {
            "compute only (network size)": Segmenter(OnnxRuntimeRunner(plain["onnx"], threads=args.threads)),
            "runtime only, frame graph uint8 (no pipeline)":
                Segmenter(OnnxRuntimeRunner(fused_u8["onnx"], threads=args.threads)),
            "end to end, frame graph uint8": Segmenter(OnnxRuntimeRunner(fused_u8["onnx"], threads=args.threads)),
            "end to end, frame graph float32 (TensorRT 8.2 graph)":
                Segmenter(OnnxRuntimeRunner(fused_f32["onnx"], threads=args.threads)),
            "end to end, CPU pre/post (before)": Segmenter(OnnxRuntimeRunner(plain["onnx"], threads=args.threads)),
        }
        if args.baseline:
            for kind, report in (("uint8", fused_u8), ("float32", fused_f32)):
                old = os.path.join(args.baseline, os.path.basename(report["onnx"]))
                if not os.path.isfile(old):
                    parser.error("--baseline has no {} (the {} frame graph of {})".format(old, kind, name))
                segs["end to end, frame graph {} (baseline)".format(kind)] = \
                    Segmenter(OnnxRuntimeRunner(old, threads=args.threads))
        agree = dict((label, agreement(seg, segs["compute only (network size)"], frames))
                     for label, seg in segs.items() if label.startswith("end to end, frame graph"))
        totals = dict((label, {"frames": 0, "seconds": 0.0, "runs": []}) for label in segs)
        for round_index in range(args.rounds):
            for label, segmenter in segs.items():
                if not label.startswith("end to end"):
                    run = run_benchmark(segmenter, warmup=args.warmup if round_index == 0 else 1,
                                        iters=args.iters, progress=False,
                                        images=images if label.startswith("runtime") else None).to_dict()
                    seconds = sum(r["end_perf"] - r["start_perf"] for r in run["iterations"])
                else:
                    run = run_end_to_end(segmenter, images, warmup=args.warmup if round_index == 0 else 1,
                                         iters=args.iters, progress=False, label=label[:40]).to_dict()
                    seconds = run["elapsed_s"]
                run.pop("iterations", None)
                totals[label]["frames"] += run["iters"]
                totals[label]["seconds"] += seconds
                totals[label]["runs"].append(run)
                print("{} round {} {}: {:.2f} FPS".format(name, round_index + 1, label, run["fps"]), flush=True)
        compute_fps = totals["compute only (network size)"]["frames"] / totals["compute only (network size)"]["seconds"]
        for label, total in totals.items():
            fps = total["frames"] / total["seconds"]
            e2e = [r for r in total["runs"] if r["mode"] == "end-to-end"]
            stages = None
            host_ms = None
            if e2e:
                import numpy as np

                stages = dict((stage, float(np.mean([r["stages"][stage]["mean"] for r in e2e])))
                              for stage in e2e[0]["stages"] if e2e[0]["stages"][stage] is not None)
                host_ms = float(np.mean([r["host_ms_per_frame"] for r in e2e]))
            results.append({"model": name, "size": args.size, "mode": label, "fps": fps,
                            "ratio_vs_compute": fps / compute_fps, "host_ms_per_frame": host_ms,
                            "stages_mean_ms": stages, "frames": total["frames"],
                            "mask_agreement_min": min(agree[label]) if label in agree else None,
                            "runs": total["runs"]})
        for segmenter in segs.values():
            segmenter.close()
    lines = ["| model | mode | FPS | vs compute only | CPU work outside the runtime (ms/frame) | "
             "preprocess / postprocess / render (ms) | mask agreement vs exact CPU path |",
             "|---|---|---|---|---|---|---|"]
    for r in results:
        s = r["stages_mean_ms"] or {}
        lines.append("| {} | {} | {:.2f} | {:.2f}x | {} | {} | {} |".format(
            r["model"], r["mode"], r["fps"], r["ratio_vs_compute"],
            "-" if r["host_ms_per_frame"] is None else "{:.1f}".format(r["host_ms_per_frame"]),
            "-" if not s else "{:.1f} / {:.1f} / {:.1f}".format(s["preprocess"], s["postprocess"], s["render"]),
            "-" if r["mask_agreement_min"] is None else "{:.4%}".format(r["mask_agreement_min"])))
    print("\n".join(lines))
    host = host_details()
    load_end = os.getloadavg()
    note = ("machine: {} ({} cores visible), {} ONNX Runtime threads, load average {:.1f} at the start and "
            "{:.1f} at the end (shared with other jobs)".format(host["cpu"], host["cpu_count"], args.threads,
                                                               load_start[0], load_end[0]))
    print(note)
    out_dir = os.path.join(HERE, "results")
    os.makedirs(out_dir, exist_ok=True)
    out = os.path.join(out_dir, "bench_end_to_end-{}-{}.json".format(platform.node(), time.strftime("%Y%m%d-%H%M%S")))
    with open(out, "w") as handle:
        json.dump({"size": args.size, "baseline": args.baseline, "frame_size": list(FRAME_SIZE),
                   "threads": args.threads, "iters": args.iters,
                   "rounds": args.rounds, "images": images, "rows": results, "host": host,
                   "load_average": [load_start, load_end], "note": note, "table": lines}, handle, indent=1)
    print("wrote " + out)


if __name__ == "__main__":
    main()
