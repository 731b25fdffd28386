"""Compare backends on this machine: PyTorch eager fp32 vs ONNX Runtime fp32 / fp16 / INT8.

Same CPU threads for every backend (torch.set_num_threads = ORT intra-op threads), the same loop
(espnet_edge.runtime.benchmark.run_benchmark, compute only), ESPNet q8 and ESPNetv2 s2.0 at 1024x512
and 512x256. fp16/INT8 mask agreement vs fp32 comes from each variant's export report.

    python benchmarks/bench_backends.py [--threads N] [--iters N] [--warmup N] [--calib DIR]

Prints a table and writes benchmarks/results/bench_backends-<host>-<time>.json. Not a test.
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

MODELS = ("espnet-q8", "espnetv2-s2.0-city-1024")
SIZES = ((1024, 512), (512, 256))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--calib", default=os.path.join(SHARED, "images", "cityscapes"),
                        help="calibration frames (default: the Cityscapes frames; the last is held out)")
    parser.add_argument("--images", default=os.path.join(SHARED, "images", "cityscapes"))
    parser.add_argument("--work", default=os.path.join(HERE, "results", "onnx"))
    args = parser.parse_args()
    os.environ.setdefault("ESPNET_EDGE_WEIGHTS", os.path.join(SHARED, "weights"))

    import torch

    from espnet_edge import zoo
    from espnet_edge.host.export.pipeline import export_model
    from espnet_edge.host.export.variants import export_fp16, export_int8
    from espnet_edge.host.torch_runner import TorchRunner
    from espnet_edge.runtime.benchmark import host_details, run_benchmark
    from espnet_edge.runtime.onnxruntime_runner import OnnxRuntimeRunner
    from espnet_edge.runtime.segmenter import Segmenter

    torch.set_num_threads(args.threads)
    rows = []
    for name in MODELS:
        entry = zoo.get_model(name)
        for size in SIZES:
            fp32 = export_model(entry, size=size, out_dir=args.work, images=[args.images])
            fp16 = export_fp16(fp32["onnx"], images=[args.images])
            int8 = export_int8(fp32["onnx"], args.calib, method="percentile")
            candidates = [
                ("torch eager fp32", lambda: TorchRunner(entry, size=size, threads=args.threads), None),
                ("onnxruntime fp32", lambda: OnnxRuntimeRunner(fp32["onnx"], threads=args.threads), fp32),
                ("onnxruntime fp16", lambda: OnnxRuntimeRunner(fp16["onnx"], threads=args.threads), fp16),
                ("onnxruntime int8", lambda: OnnxRuntimeRunner(int8["onnx"], threads=args.threads), int8),
            ]
            for label, make, report in candidates:
                segmenter = Segmenter(make())
                result = run_benchmark(segmenter, warmup=args.warmup, iters=args.iters, progress=False).to_dict()
                segmenter.close()
                agreement = report["verification"]["mask_agreement_min"] if report and label != "onnxruntime fp32" else None
                row = {"model": name, "size": "{}x{}".format(*size), "backend": label,
                       "latency_ms": result["latency_ms"], "fps": result["fps"], "iters": result["iters"],
                       "mask_agreement_vs_fp32": agreement,
                       "miou_vs_fp32": report["verification"].get("miou_vs_fp32") if report else None}
                rows.append(row)
                print("{:26s} {:9s} {:18s} {:8.1f} ms  {:6.2f} FPS  agreement {}".format(
                    name, row["size"], label, result["latency_ms"]["mean"], result["fps"],
                    "-" if agreement is None else "{:.4f}".format(agreement)), flush=True)
    by_key = {(r["model"], r["size"], r["backend"]): r for r in rows}
    lines = ["| model | size | backend | mean ms | p90 ms | FPS | speed-up vs torch | mask agreement vs fp32 | mIoU vs fp32 |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        base = by_key[(r["model"], r["size"], "torch eager fp32")]["latency_ms"]["mean"]
        lines.append("| {} | {} | {} | {:.1f} | {:.1f} | {:.2f} | {:.2f}x | {} | {} |".format(
            r["model"], r["size"], r["backend"], r["latency_ms"]["mean"], r["latency_ms"]["p90"], r["fps"],
            base / r["latency_ms"]["mean"],
            "-" if r["mask_agreement_vs_fp32"] is None else "{:.4f}".format(r["mask_agreement_vs_fp32"]),
            "-" if r["miou_vs_fp32"] is None else "{:.3f}".format(r["miou_vs_fp32"])))
    table = "\n".join(lines)
    print()
    print(table)
    import onnxruntime

    out = {"host": host_details(), "threads": args.threads, "iters": args.iters, "warmup": args.warmup,
           "torch": torch.__version__, "onnxruntime": onnxruntime.__version__, "rows": rows,
           "table_markdown": table}
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    path = os.path.join(HERE, "results", "bench_backends-{}-{}.json".format(
        platform.node() or "host", time.strftime("%Y%m%d-%H%M%S")))
    with open(path, "w") as handle:
        json.dump(out, handle, indent=2)
    print("wrote " + path)


if __name__ == "__main__":
    main()
