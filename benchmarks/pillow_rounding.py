"""Why ESPNetv2's in-graph preprocessing keeps Pillow's uint8 rounding between its two passes.

Dropping it would make the whole resize one convolution (cheaper in the frame graph), so this
measures what it would cost in masks: for every image in ../shared/images, Pillow's antialiased
bilinear resize as Pillow does it (espnet_edge.preprocess, pixel-identical to Pillow) against the
same separable filter in float64 with one rounding at the end, each normalised and fed to the same
exported ESPNetv2; the class maps are compared at the network size.

    python benchmarks/pillow_rounding.py [--model espnetv2-s2.0-city-1024] [--size 1024x512]

Prints a table and writes benchmarks/results/pillow_rounding-<host>-<time>.json. Not a test.
"""

import argparse
import os
import platform
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
SHARED = os.path.join(os.path.dirname(ROOT), "shared")
IMAGES = os.path.join(SHARED, "images")


def float_pass(image, out_size, axis):
    """Pillow's bilinear taps along ``axis`` in float64, no rounding."""
    import numpy as np

    from espnet_edge.preprocess import pil_bilinear_weights

    index, weight = pil_bilinear_weights(image.shape[axis], out_size)
    source = np.moveaxis(image, axis, 0)
    out = np.zeros((out_size,) + source.shape[1:], np.float64)
    for tap in range(index.shape[1]):
        out += weight[:, tap].reshape((-1,) + (1,) * (source.ndim - 1)) * source[index[:, tap]]
    return np.moveaxis(out, 0, axis)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="espnetv2-s2.0-city-1024")
    parser.add_argument("--size", default="1024x512")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--work", default=os.path.join(HERE, "results", "onnx"))
    args = parser.parse_args()
    os.environ.setdefault("ESPNET_EDGE_WEIGHTS", os.path.join(SHARED, "weights"))

    import numpy as np

    from espnet_edge import zoo
    from espnet_edge.host.export.pipeline import export_model
    from espnet_edge.images import list_images, read_image
    from espnet_edge.preprocess import normalize, preprocess, resize_raw
    from espnet_edge.runtime.onnxruntime_runner import OnnxRuntimeRunner
    from espnet_edge.utils.atomic import write_json
    from espnet_edge.utils.parsing import parse_size

    size = parse_size(args.size)
    entry = zoo.get_model(args.model)
    spec = entry.preprocess
    if spec.resize != "pil_bilinear":
        parser.error("{} does not resize with Pillow ({}); pick an ESPNetv2 model".format(args.model, spec.resize))
    runner = OnnxRuntimeRunner(export_model(entry, size=size, out_dir=args.work)["onnx"], threads=args.threads)
    rows = []
    for path in list_images([IMAGES]):
        frame = read_image(path)
        exact_raw = resize_raw(frame, spec, size)
        source = frame[:, :, ::-1] if spec.channel_order == "RGB" else frame
        # Pillow's pass order for this ratio (preprocess.pil_vertical_first) does not matter without rounding
        filtered = float_pass(float_pass(source.astype(np.float64), size[0], 1), size[1], 0)
        float_raw = np.clip(np.floor(filtered + 0.5), 0, 255).astype(np.uint8)
        off = np.abs(float_raw.astype(np.int32) - exact_raw.astype(np.int32))
        exact_mask = runner.infer(preprocess(frame, spec, size)).argmax(1)
        float_mask = runner.infer(normalize(float_raw, spec).transpose(2, 0, 1)[None].astype(np.float32)).argmax(1)
        rows.append({"image": os.path.relpath(path, IMAGES), "frame": "{}x{}".format(frame.shape[1], frame.shape[0]),
                     "values_off": float(np.mean(off > 0)), "max_off": int(off.max()),
                     "mask_agreement": float(np.mean(exact_mask == float_mask))})
        print("{image}: {values_off:.1%} of values off (max {max_off}), mask agreement {mask_agreement:.4%}".format(
            **rows[-1]), flush=True)
    runner.close()
    lines = ["| image | frame | values off by a grey level | mask agreement |", "|---|---|---|---|"]
    for r in rows:
        lines.append("| {} | {} | {:.1%} | {:.4%} |".format(r["image"], r["frame"], r["values_off"], r["mask_agreement"]))
    print("\n".join(lines))
    out_dir = os.path.join(HERE, "results")
    os.makedirs(out_dir, exist_ok=True)
    out = os.path.join(out_dir, "pillow_rounding-{}-{}.json".format(platform.node(), time.strftime("%Y%m%d-%H%M%S")))
    write_json(out, {"model": args.model, "size": args.size, "rows": rows, "table": lines})
    print("wrote " + out)


if __name__ == "__main__":
    main()
