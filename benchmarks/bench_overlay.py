"""What the CPU overlay costs at 2048x1024: the float32 blend it replaced against the table lookup +
integer blend of visualize.overlay, and the legend/HUD/outline drawing of a demo frame.

    python benchmarks/bench_overlay.py [--rounds 20] [--threads N]

On the two Cityscapes frames with a real class map (ESPNet q8's, nearest-resized to 2048x1024, as the
CPU path draws it), interleaved rounds, median and minimum per part; the overlay at alpha 0.5 is checked
bit-identical to the old formula first, and at alpha 0.3 (cv2.addWeighted, ties to even) within 1 of it.
--threads sets OpenCV's threads (default: OpenCV's own).
Prints a table and writes benchmarks/results/bench_overlay-<host>-<time>.json. Not a test.
"""

import argparse
import os
import platform
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from bench_end_to_end import CITYSCAPES, SHARED  # noqa: E402  (the same frames)


def float32_overlay(frame, mask, palette, alpha):
    """The overlay as espnet-edge drew it before (numpy fancy indexing, float32 blend)."""
    import numpy as np

    from espnet_edge.visualize import palette_array

    lut = np.zeros((256, 3), dtype=np.uint8)
    colours = palette_array(palette)
    lut[:len(colours)] = colours
    picked = lut[np.clip(mask, 0, 255).astype(np.uint8)]
    blended = frame.astype(np.float32) * (1.0 - alpha) + picked.astype(np.float32) * alpha
    return np.clip(blended + 0.5, 0, 255).astype(np.uint8)


def class_maps(frames):
    """ESPNet q8's class maps of the frames (plain graph at 512x256, ONNX Runtime), network size and frame size."""
    import tempfile

    from espnet_edge import zoo
    from espnet_edge.host.export.pipeline import export_model
    from espnet_edge.runtime.onnxruntime_runner import OnnxRuntimeRunner
    from espnet_edge.runtime.segmenter import Segmenter

    entry = zoo.get_model("espnet-q8")
    with tempfile.TemporaryDirectory() as folder:
        path = export_model(entry, size=(512, 256), out_dir=folder, verify_limit=1)["onnx"]
        segmenter = Segmenter(OnnxRuntimeRunner(path, threads=2))
        maps = [(segmenter.segment(f, at_network_size=True), segmenter.segment(f)) for f in frames]
        segmenter.close()
    return entry, maps


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--threads", type=int, help="cv2.setNumThreads (default: OpenCV's own)")
    args = parser.parse_args()
    os.environ.setdefault("ESPNET_EDGE_WEIGHTS", os.path.join(SHARED, "weights"))

    import cv2
    import numpy as np

    from espnet_edge import visualize
    from espnet_edge.apps.demo import hud_lines
    from espnet_edge.apps.pipeline import render_frame
    from espnet_edge.images import list_images, read_image
    from espnet_edge.runtime.benchmark import host_details
    from espnet_edge.utils.atomic import write_json

    if args.threads:
        cv2.setNumThreads(args.threads)
    frames = [read_image(p) for p in list_images([CITYSCAPES])]
    entry, maps = class_maps(frames)
    palette = entry.palette

    class Info(object):  # what render_frame reads of a segmenter
        info = type("I", (), {"palette": palette, "classes": entry.classes})

    lines = hud_lines(0.9, 1100.0, None, "espnet-q8 / onnxruntime", 1500.0,
                      {"preprocess": 0.0, "compute": 1100.0, "postprocess": 0.1, "render": 1.4})
    for frame, (_small, mask) in zip(frames, maps):
        assert np.array_equal(visualize.overlay(frame, mask, palette, 0.5),
                              float32_overlay(frame, mask, palette, 0.5)), "not bit-identical"
        apart = np.abs(visualize.overlay(frame, mask, palette, 0.3).astype(np.int16)
                       - float32_overlay(frame, mask, palette, 0.3))
        assert apart.max() <= 1, "alpha 0.3 more than 1 apart from the float32 formula"
    parts = {
        "before: float32 overlay (alpha 0.5)": lambda f, m, s: float32_overlay(f, m, palette, 0.5),
        "colour lookup (cv2.LUT per channel)": lambda f, m, s: visualize.colorize(m, palette),
        "overlay, alpha 0.5 (lookup + integer mean)": lambda f, m, s: visualize.overlay(f, m, palette, 0.5),
        "overlay, alpha 0.3 (lookup + cv2.addWeighted)": lambda f, m, s: visualize.overlay(f, m, palette, 0.3),
        "legend + outlines + HUD on a finished overlay (frame graph path)":
            lambda f, m, s: render_frame(Info, f, s, f.copy(), 0.5, lines),
        "render on the CPU path (overlay + legend + outlines + HUD)":
            lambda f, m, s: render_frame(Info, f, m, None, 0.5, lines),
    }
    times = dict((label, []) for label in parts)
    for _ in range(args.rounds):
        for label, call in parts.items():
            for frame, (small, mask) in zip(frames, maps):
                start = time.perf_counter()
                call(frame, mask, small)
                times[label].append((time.perf_counter() - start) * 1000.0)
    rows = [{"part": label, "median_ms": float(np.median(v)), "min_ms": float(np.min(v)), "runs": len(v)}
            for label, v in times.items()]
    table = ["| part (2048x1024) | median ms | min ms |", "|---|---|---|"]
    table += ["| {} | {:.2f} | {:.2f} |".format(r["part"], r["median_ms"], r["min_ms"]) for r in rows]
    print("\n".join(table))
    host = host_details()
    note = "machine: {} ({} cores visible), OpenCV {} with {} threads, load average {:.1f}".format(
        host["cpu"], host["cpu_count"], cv2.__version__, cv2.getNumThreads(), os.getloadavg()[0])
    print(note)
    out = os.path.join(HERE, "results", "bench_overlay-{}-{}.json".format(platform.node(), time.strftime("%Y%m%d-%H%M%S")))
    os.makedirs(os.path.dirname(out), exist_ok=True)
    write_json(out, {"rounds": args.rounds, "rows": rows, "table": table, "host": host, "note": note,
                     "bit_identical_at_alpha_0.5": True, "within_1_at_alpha_0.3": True})
    print("wrote " + out)


if __name__ == "__main__":
    main()
