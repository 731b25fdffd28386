"""The demo as a user runs it, with no flag but the source, against the network alone, in one run.

    python benchmarks/bench_demo_default.py [--rounds 2] [--frames 40] [--cpu-path-frames 20] [--cache DIR]

For each model, a clip made here from the real Cityscapes frames with OpenCV's VideoWriter (mp4v, 10 fps,
the two frames alternating) in a temporary folder:
- espnet-q8 on 2048x1024 frames (network 1024x512: an integer ratio);
- espnetv2-s2.0-city-1024 on 1280x720 frames (network 1024x512: a non-integer ratio);
it runs, each as its own process exactly as a user types it:
- `espnet-edge demo --model M --source CLIP --no-display --max-frames N --record-stats S.json` once into a
  fresh cache (that run exports the frame graph), then once per round (each must reuse it: no export in
  its log);
- `espnet-edge bench --model M --iters K --json B.json` (compute only, the plain graph at the network
  size) before and after every demo round: a demo run's ratio is its FPS over the mean of the two
  compute-only runs around it (the machine may be shared: they see the same load);
- once, `demo ... --no-frame-graph` (today's CPU path) for comparison.
Then the frame graph the demo used and the exact CPU path (plain graph, CPU preprocessing, nearest-resized
class map) segment every decoded frame of the clip: the share of frame pixels whose class agrees.
Host work outside the runtime (preprocess + postprocess + render) comes from the demo's own stats: its wall
time and its CPU time (the threads' CPU clocks: the work itself, without the waits for a core).
Prints a table, then per model the rounds' ratios pooled (median and range, the run's mean demo FPS over its
mean compute-only FPS, and how far compute only itself spread), and writes
benchmarks/results/bench_demo_default-<host>-<time>.json. Not a test.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

from bench_end_to_end import CITYSCAPES, HERE, ROOT, SHARED  # the same frames and paths

CASES = (("espnet-q8", (2048, 1024)), ("espnetv2-s2.0-city-1024", (1280, 720)))


def make_clip(path, size, frames):
    import cv2

    from espnet_edge.images import list_images, read_image

    images = [read_image(p) for p in list_images([CITYSCAPES])]
    if (images[0].shape[1], images[0].shape[0]) != tuple(size):
        images = [cv2.resize(image, tuple(size), interpolation=cv2.INTER_AREA) for image in images]
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), 10, tuple(size))
    for index in range(frames):
        writer.write(images[index % len(images)])
    writer.release()
    return path


def cli(args, cache, work):
    """Run `espnet-edge ARGS` as a user would; -> (seconds, stderr)."""
    env = dict(os.environ, PYTHONPATH=ROOT, ESPNET_EDGE_CACHE=cache)
    start = time.time()
    proc = subprocess.run([sys.executable, "-m", "espnet_edge"] + [str(a) for a in args], cwd=work, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    if proc.returncode != 0:
        raise SystemExit("espnet-edge {} failed:\n{}".format(" ".join(map(str, args)), proc.stderr))
    return time.time() - start, proc.stderr


def demo_run(model, clip, frames, cache, work, tag, extra=()):
    stats = os.path.join(work, "{}-{}.json".format(model, tag))
    seconds, log = cli(["demo", "--model", model, "--source", clip, "--no-display", "--max-frames", frames,
                        "--record-stats", stats] + list(extra), cache, work)
    summary = json.load(open(stats))["summary"]
    rows = json.load(open(stats))["frames"]
    hosts = sorted(r["host_ms"] for r in rows)
    return {"tag": tag, "fps": summary["mean_fps"], "host_ms_mean": summary["host_ms_per_frame"],
            "host_ms_p50": hosts[len(hosts) // 2], "host_cpu_ms_mean": summary["host_cpu_ms_per_frame"],
            "stages_ms": summary["stages_ms"], "graph": summary["graph"],
            "exported": "note: exporting the frame graph" in log, "exported_anything": "note: exporting" in log,
            "startup_s": summary["startup_s"], "frames": summary["frames"], "wall_s": seconds}


def compute_only(model, iters, cache, work, tag):
    out = os.path.join(work, "{}-bench-{}.json".format(model, tag))
    cli(["bench", "--model", model, "--iters", iters, "--warmup", 3, "--json", out], cache, work)
    return json.load(open(out))["fps"]


def agreement(model, clip, graph_path, cache):
    """Per decoded clip frame: (share of pixels whose class agrees, pixels that differ), frame graph vs
    the exact CPU path (the plain graph from the same cache)."""
    import cv2
    import numpy as np

    from espnet_edge.backends import open_source, resolve
    from espnet_edge.runtime.onnxruntime_runner import OnnxRuntimeRunner
    from espnet_edge.runtime.segmenter import Segmenter

    os.environ["ESPNET_EDGE_CACHE"] = cache  # the plain graph the bench runs exported there
    graph = Segmenter(OnnxRuntimeRunner(graph_path))
    plain = Segmenter(open_source(resolve(model=model)))
    capture = cv2.VideoCapture(clip)
    shares = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        mask, _overlay = graph.segment_overlay(frame)
        same = mask == plain.segment(frame)
        shares.append((float(np.mean(same)), int(same.size - np.count_nonzero(same))))
    capture.release()
    graph.close()
    plain.close()
    return shares


def run_model(model, size, args, cache, work):
    clip = make_clip(os.path.join(work, "{}-{}x{}.mp4".format(model, *size)), size, args.frames)
    first = demo_run(model, clip, args.frames, cache, work, "first run")
    compute_only(model, 1, cache, work, "export")  # the plain graph's export, outside any timing
    rounds, before = [], compute_only(model, args.iters, cache, work, "r0")
    for index in range(args.rounds):
        run = demo_run(model, clip, args.frames, cache, work, "round {}".format(index + 1))
        after = compute_only(model, args.iters, cache, work, "r{}".format(index + 1))
        run["compute_fps"] = [before, after]
        run["ratio"] = run["fps"] / ((before + after) / 2.0)
        rounds.append(run)
        print("{} round {}: demo {:.3f} FPS, compute only {:.3f} / {:.3f} FPS, ratio {:.3f}, host {:.2f} ms "
              "(p50 {:.2f}, CPU {:.2f})".format(model, index + 1, run["fps"], before, after, run["ratio"],
                                              run["host_ms_mean"], run["host_ms_p50"], run["host_cpu_ms_mean"]),
              flush=True)
        before = after
    cpu = None
    if args.cpu_path_frames:
        cpu = demo_run(model, clip, args.cpu_path_frames, cache, work, "--no-frame-graph", ["--no-frame-graph"])
        cpu["compute_fps"] = [before, compute_only(model, args.iters, cache, work, "cpu")]
        cpu["ratio"] = cpu["fps"] / (sum(cpu["compute_fps"]) / 2.0)
    shares = agreement(model, clip, first["graph"][0]["path"], cache)
    return {"model": model, "frame_size": list(size), "first": first, "rounds": rounds, "cpu_path": cpu,
            "mask_agreement": [share for share, _ in shares], "pixels_differing": [n for _, n in shares],
            "masks_identical": all(n == 0 for _, n in shares), "summary": ratio_summary(rounds) if rounds else None}


def ratio_summary(rounds):
    """The rounds' ratios pooled: median (and range), and the run's mean demo FPS over its mean compute-only
    FPS; with the compute-only runs' own spread (max / min - 1), which is what moves one round's ratio."""
    import statistics

    ratios = sorted(run["ratio"] for run in rounds)
    computes = [fps for run in rounds for fps in run["compute_fps"]]
    return {"rounds": len(ratios), "median": statistics.median(ratios), "min": ratios[0], "max": ratios[-1],
            "ratio_of_means": statistics.mean(run["fps"] for run in rounds) / statistics.mean(computes),
            "compute_spread": max(computes) / min(computes) - 1.0}


def summary_lines(results):
    lines = []
    for r in results:
        s = r["summary"]
        if s:
            lines.append("{}: ratio over {} rounds: median {:.3f}x ({:.3f}-{:.3f}), mean demo FPS over mean "
                         "compute-only FPS {:.3f}x; compute only itself spread {:.0%} in this run".format(
                             r["model"], s["rounds"], s["median"], s["min"], s["max"], s["ratio_of_means"],
                             s["compute_spread"]))
    return lines


def table(results):
    lines = ["| model | frames | run | demo FPS | compute-only FPS (before / after) | ratio | host ms/frame: wall "
             "mean (p50) / CPU mean | export in its log | masks vs exact CPU path |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        size = "{}x{}".format(*r["frame_size"])
        agree = "identical ({} frames)".format(len(r["mask_agreement"])) if r["masks_identical"] else \
            "min {:.5%}; {} of {} frames differ, at most {} pixels".format(
                min(r["mask_agreement"]), sum(1 for n in r["pixels_differing"] if n), len(r["pixels_differing"]),
                max(r["pixels_differing"]))
        first = r["first"]
        lines.append("| {} | {} | first (exports) | {:.3f} | - | - | {:.2f} ({:.2f}) / {:.2f} | {} | {} |".format(
            r["model"], size, first["fps"], first["host_ms_mean"], first["host_ms_p50"], first["host_cpu_ms_mean"],
            "yes" if first["exported"] else "no", agree))
        for run in r["rounds"] + ([r["cpu_path"]] if r["cpu_path"] else []):
            lines.append("| {} | {} | {} | {:.3f} | {:.3f} / {:.3f} | **{:.3f}x** | {:.2f} ({:.2f}) / {:.2f} | {} | |"
                         .format(r["model"], size, run["tag"], run["fps"], run["compute_fps"][0],
                                 run["compute_fps"][1], run["ratio"], run["host_ms_mean"], run["host_ms_p50"],
                                 run["host_cpu_ms_mean"],
                                 "yes" if run["exported_anything"] and run["tag"] != "--no-frame-graph" else "no"))
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--frames", type=int, default=40, help="--max-frames of each demo run (and clip length)")
    parser.add_argument("--iters", type=int, default=20, help="compute-only iterations per bench run")
    parser.add_argument("--cpu-path-frames", type=int, default=20, help="frames of the --no-frame-graph run (0: skip)")
    parser.add_argument("--models", default=",".join(m for m, _ in CASES))
    parser.add_argument("--cache", help="export cache to use (default: a fresh temporary one, so the first run exports)")
    args = parser.parse_args()
    os.environ.setdefault("ESPNET_EDGE_WEIGHTS", os.path.join(SHARED, "weights"))
    from espnet_edge.runtime.benchmark import host_details
    from espnet_edge.utils.atomic import write_json

    load_start = os.getloadavg()
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-demo-") as work:
        cache = args.cache or os.path.join(work, "cache")
        for model, size in CASES:
            if model in args.models.split(","):
                results.append(run_model(model, size, args, cache, work))
    lines = table(results) + [""] + summary_lines(results)
    print("\n".join(lines))
    host = host_details()
    load_end = os.getloadavg()
    note = ("machine: {} ({} cores visible), ONNX Runtime's default threads, load average {:.1f} at the start "
            "and {:.1f} at the end".format(host["cpu"], host["cpu_count"], load_start[0], load_end[0]))
    print(note)
    out = os.path.join(HERE, "results", "bench_demo_default-{}-{}.json".format(
        platform.node(), time.strftime("%Y%m%d-%H%M%S")))
    os.makedirs(os.path.dirname(out), exist_ok=True)
    write_json(out, {"args": vars(args), "results": results, "table": lines, "host": host, "note": note,
                     "load_average": [load_start, load_end]})
    print("wrote " + out)


if __name__ == "__main__":
    main()
