"""One accuracy table for every deployment path (issue 21), made with the commands a user runs.

CamVid (``espnet-q8-camvid`` on the whole labelled test split, 233 frames): PyTorch fp32, ONNX Runtime fp32,
FP16, INT8 QDQ calibrated on ``datasets/camvid/train`` with each calibration method ``export`` offers, a
``--fuse-post`` graph and the frame graphs (``--fuse-pre --input-size 480x360``, ``--fuse-post``,
``--fuse-overlay``; float32 and uint8 frames): mIoU (standard and the authors' void-counted), class
average and the difference to ONNX Runtime fp32, with the bars of issue 21 checked.
Cityscapes (``espnet-q8``, ``espnetv2-s2.0-city-1024``): agreement of every path with PyTorch fp32 on the
real Cityscapes frames in ../shared (``espnet-edge compare``), with the authors' published figures beside.
A TensorRT column fills in for the rows given an engine: ``--engine camvid/fp16=model-fp16.engine``.

    python scripts/accuracy_table.py --out docs --docs docs/accuracy.md [--work DIR] [--reuse]

Writes OUT/accuracy.json and the Markdown table: into the --docs file between its markers, else
OUT/accuracy_table.md; prints the table. Every export is ``espnet-edge export`` into --work, every measurement
``espnet-edge eval`` / ``espnet-edge compare`` with --json.
"""

import argparse
import datetime
import glob
import json
import os
import platform
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from espnet_edge import published  # noqa: E402
from espnet_edge.defaults import CALIB_METHOD  # noqa: E402
from espnet_edge.apps import eval as evaluation  # noqa: E402
from espnet_edge.apps.datasets import label_space  # noqa: E402
from espnet_edge.host.export.int8 import CALIB_METHODS  # noqa: E402  (each method the export offers)
from espnet_edge.runtime.model_info import ModelInfo  # noqa: E402
from espnet_edge.utils.atomic import atomic_open, write_json  # noqa: E402
from espnet_edge.zoo import get_model  # noqa: E402

SHARED = os.environ.get("ESPNET_EDGE_SHARED", os.path.join(os.path.dirname(ROOT), "shared"))
CAMVID_MODEL = "espnet-q8-camvid"
CITYSCAPES_MODELS = ("espnet-q8", "espnetv2-s2.0-city-1024")
MARKERS = ("<!-- accuracy-table:start (scripts/accuracy_table.py) -->", "<!-- accuracy-table:end -->")
FP16_BAR = 0.1    # mIoU points from fp32
FRAME_BAR = 0.01  # mIoU points from the CPU path
INT8_BAR = 0.5    # mIoU points from fp32, on frames the calibration never saw
AGREEMENT_BAR = 0.99  # INT8 of the Cityscapes checkpoints: pixels agreeing with fp32 on an unseen frame


def frame_rows(frame_size):
    """(key, label, export flags) of the frame graphs: each fused stage set, float32 and uint8 frames."""
    size = "{}x{}".format(*frame_size)
    rows = []
    for stages, flags in (("pre", ["--fuse-pre"]), ("pre+post", ["--fuse-pre", "--fuse-post"]),
                          ("pre+post+overlay", ["--fuse-pre", "--fuse-post", "--fuse-overlay"])):
        for dtype in ("float32", "uint8"):
            extra = ["--trt", "10"] if dtype == "uint8" else []  # TensorRT 8.2 takes no UINT8 input
            rows.append(("frame-{}-{}".format(stages.replace("+", "-"), dtype),
                         "frame graph {}, {} frames {}".format(stages, dtype, size),
                         flags + ["--input-size", size, "--frame-dtype", dtype] + extra))
    return rows


def camvid_rows(calib_dir, frame_size, labels_dir=None):
    """(key, label, export flags or None for PyTorch, which file of the export: base/fp16/int8)."""
    rows = [("torch-fp32", "PyTorch fp32", None, None),
            ("ort-fp32", "ONNX Runtime fp32", ["--fp16"], "base"),
            ("ort-fp16", "FP16 (ONNX Runtime)", ["--fp16"], "fp16"),
            ("ort-post", "--fuse-post graph (ArgMax in the graph)", ["--fuse-post"], "base")]
    for method in CALIB_METHODS:
        rows.append(("ort-int8-" + method, "INT8 QDQ, {} calibration on camvid/train".format(method),
                     ["--int8", "--calib", calib_dir, "--calib-method", method], "int8"))
    if labels_dir:
        rows.append(("ort-int8-labels", "INT8 QDQ, {} calibration on camvid/train, float Convs chosen by mIoU "
                     "(--int8-labels)".format(CALIB_METHOD),
                     ["--int8", "--calib", calib_dir, "--int8-labels", labels_dir, "--int8-labels-format", "camvid",
                      "--int8-labels-split", "train"], "int8"))
    rows += [(key, label, flags, "base") for key, label, flags in frame_rows(frame_size)]
    return rows


def cityscapes_rows(frame_size):
    """The Cityscapes checkpoints' paths but INT8 (its rows are leave-one-out: cityscapes_int8)."""
    rows = [row for row in camvid_rows("", frame_size) if row[0] in ("ort-fp32", "ort-fp16", "ort-post")]
    return rows + [(key, label, flags, "base") for key, label, flags in frame_rows(frame_size)
                   if key.startswith("frame-pre-post-") and "overlay" not in key]


def cli(args, log):
    """Run `python -m espnet_edge ARGS`; its output is logged; a failure stops the script with it."""
    command = [sys.executable, "-m", "espnet_edge"] + [str(a) for a in args]
    log("$ espnet-edge " + " ".join(str(a) for a in args))
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                          env=env, cwd=ROOT)
    if proc.returncode not in ((0, 1) if args[0] == "compare" else (0,)):  # compare: 1 is a tolerance missed
        raise SystemExit("failed ({}): {}\n{}".format(proc.returncode, " ".join(command), proc.stderr[-3000:]))
    return proc


def exported(model, flags, which, work, reuse, log, name=None):
    """The ONNX file an `espnet-edge export --model MODEL FLAGS --out DIR` writes (``which``: base/fp16/int8);
    DIR is named after the flags (paths left out) unless ``name`` is given."""
    folder = os.path.join(work, model, name or "export-" + "-".join(
        f.strip("-").replace("/", "_") for f in flags if not os.path.isabs(f)))
    files = sorted(glob.glob(os.path.join(folder, "*.onnx")))
    if not (reuse and files):
        cli(["export", "--model", model, "--out", folder] + flags, log)
        files = sorted(glob.glob(os.path.join(folder, "*.onnx")))
    variants = {"fp16": [f for f in files if f.endswith("-fp16.onnx")],
                "int8": [f for f in files if f.endswith("-int8.onnx")]}
    variants["base"] = [f for f in files if f not in variants["fp16"] + variants["int8"]]
    if len(variants[which]) != 1:
        raise SystemExit("expected one {} ONNX file in {}, found {}".format(which, folder, files))
    return variants[which][0]


def _read_json(path):
    if not os.path.isfile(path):
        return None
    with open(path) as handle:
        return json.load(handle)


def source_args(model, flags, which, work, reuse, log):
    if flags is None:
        return ["--model", model, "--backend", "torch"]
    return ["--onnx", exported(model, flags, which, work, reuse, log)]


def measured_eval(source, json_path, data, threads, reuse, log):
    if not (reuse and os.path.isfile(json_path)):
        cli(["eval"] + source + ["--data", data, "--format", "camvid", "--split", "test", "--threads", threads,
                                 "--json", json_path], log)
    with open(json_path) as handle:
        return json.load(handle)


def summarise_eval(result):
    """An eval JSON -> the row's figures (fractions): standard and void-counted mIoU, class average."""
    import numpy as np

    info = ModelInfo.from_zoo(get_model(result["model"]))
    counted = evaluation.figures(np.array(result["confusion"]), label_space(info),
                                 np.array(result["void_predictions"]), count_void=True)
    return {"miou": result["miou"], "miou_void_counted": round(counted["miou"], 6),
            "class_average": result["class_average"], "pixel_accuracy": result["pixel_accuracy"],
            "images": result["images"], "backend": result.get("backend"), "precision": result.get("precision")}


def camvid_table(options, log):
    data = os.path.join(SHARED, "datasets", "camvid")
    calib = os.path.join(data, "train")
    entry = get_model(CAMVID_MODEL)
    rows = []
    for key, label, flags, which in camvid_rows(calib, entry.input_size, labels_dir=data):
        source = source_args(CAMVID_MODEL, flags, which, options.work, options.reuse, log)
        path = os.path.join(options.work, CAMVID_MODEL, "eval-{}.json".format(key))
        row = dict(summarise_eval(measured_eval(source, path, data, options.threads, options.reuse, log)),
                   key=key, label=label, export=flags, file=source[-1] if flags else None)
        if which == "int8":
            row["int8"] = int8_choice(source[-1])
        engine = options.engines.get("camvid/" + key)
        if engine:
            trt_path = os.path.join(options.work, CAMVID_MODEL, "eval-{}-tensorrt.json".format(key))
            row["tensorrt"] = summarise_eval(measured_eval(["--engine", engine], trt_path, data, options.threads,
                                                           options.reuse, log))
        rows.append(row)
        log("  {}: mIoU {:.4f} class average {:.4f}".format(label, row["miou"], row["class_average"]))
    return add_differences(rows), [p.to_dict() for p in entry.published]


def row_bar(key):
    """Issue 21's bar (|Δ mIoU| in points) on a CamVid row, None where none applies."""
    if key == "ort-fp16":
        return FP16_BAR
    if key.startswith("ort-int8-"):
        return INT8_BAR
    return FRAME_BAR if key.startswith(("frame-", "ort-post")) else None


def add_differences(rows):
    """Differences (mIoU points) to ONNX Runtime fp32, and the bars of issue 21 on each row they govern."""
    ref = next(r for r in rows if r["key"] == "ort-fp32")
    for row in rows:
        for name in ("miou", "miou_void_counted", "class_average"):
            row["d_" + name] = round(100.0 * (row[name] - ref[name]), 4)
        bar = row_bar(row["key"])
        if bar is not None:
            row["bar"] = {"max_abs_d_miou": bar, "passed": abs(row["d_miou"]) <= bar + 1e-9}
        if "tensorrt" in row:
            row["tensorrt"]["d_miou"] = round(100.0 * (row["tensorrt"]["miou"] - ref["miou"]), 4)
    return rows


def int8_choice(onnx_path):
    """What the INT8 export chose and checked (its <file>.report.json): float Convs, their share of the
    multiply-accumulates, the held-out agreement (and mIoU drop, with --int8-labels) it reached."""
    report = _read_json(onnx_path + ".report.json") or {}
    quant, held = report.get("quantization", {}), report.get("verification", {})
    return {"float_convs": len(quant.get("float_convs", [])), "convs": quant.get("convs"),
            "float_share": (quant.get("float_share") or {}).get("float_fraction"),
            "method": quant.get("method"), "calibration_frames": quant.get("calibration_frames"),
            "heldout_agreement": held.get("mask_agreement"), "judged": report.get("judged")}


def compare_rows(model, artifacts, images, path, options, log):
    """`espnet-edge compare torch:MODEL ARTIFACTS --images DIR`: one entry per artifact (reused with --reuse
    when the same artifacts were compared)."""
    report = _read_json(path) if options.reuse else None
    if not report or [e["artifact"] for e in report["artifacts"][1:]] != artifacts:
        cli(["compare", "torch:" + model] + artifacts + ["--images", images, "--threads", options.threads,
                                                         "--min-agreement", "0", "--json", path], log)
        report = _read_json(path)
    return [{"agreement": e["agreement"], "min_image_agreement": e["min_image_agreement"],
             "miou_vs_reference": e["miou_vs_reference"], "max_abs_logit_diff": e.get("max_abs_logit_diff"),
             "file": e["artifact"]} for e in report["artifacts"] if not e.get("reference")]


def linked_folder(folder, files):
    """A folder of symbolic links to ``files`` (a calibration set or the frames to check), made once."""
    os.makedirs(folder, exist_ok=True)
    for path in files:
        link = os.path.join(folder, os.path.basename(path))
        if not os.path.lexists(link):
            os.symlink(path, link)
    return folder


def _frame_id(path):
    """frankfurt_000000_000294_leftImg8bit.png -> 000294 (the two frames differ there)."""
    return os.path.basename(path).split("_leftImg8bit")[0].rsplit("_", 1)[-1]


def cityscapes_int8(model, frames, options, log):
    """Issue 21's INT8 setting: the default export (`--int8 --calib DIR`) with DIR = CamVid's train frames +
    one Cityscapes frame, checked on the other Cityscapes frame (leave one out, each way)."""
    camvid_train = sorted(glob.glob(os.path.join(SHARED, "datasets", "camvid", "train", "*.png")))
    rows = []
    for calibrated in frames:
        for unseen in [f for f in frames if f != calibrated]:
            stem = os.path.basename(calibrated).split("_leftImg8bit")[0]
            folder = os.path.join(options.work, model, "loo-" + stem)
            calib = linked_folder(os.path.join(folder, "calib"), camvid_train + [calibrated])
            onnx = exported(model, ["--int8", "--calib", calib], "int8", options.work, options.reuse, log,
                            name=os.path.join("loo-" + stem, "export"))
            check = linked_folder(os.path.join(folder, "unseen"), [unseen])
            row = compare_rows(model, [onnx], check, os.path.join(folder, "compare.json"), options, log)[0]
            row["bar"] = {"min_agreement": AGREEMENT_BAR, "passed": row["agreement"] >= AGREEMENT_BAR}
            row.update(key="ort-int8-loo-" + stem, int8=int8_choice(onnx), calibrated=os.path.basename(calibrated),
                       unseen=os.path.basename(unseen), label="INT8 QDQ, {} calibration on camvid/train + _{}, on the "
                       "unseen _{}".format(CALIB_METHOD, _frame_id(calibrated), _frame_id(unseen)))
            rows.append(row)
    return rows


def cityscapes_table(model, options, log):
    """Agreement with PyTorch fp32 of every path on the real Cityscapes frames (`espnet-edge compare`)."""
    images = os.path.join(SHARED, "images", "cityscapes")
    frames = sorted(glob.glob(os.path.join(images, "*.png")))
    rows = cityscapes_rows((2048, 1024))
    artifacts = [exported(model, flags, which, options.work, options.reuse, log) for _, _, flags, which in rows]
    keys = [key for key, _, _, _ in rows]
    for key in keys[:]:
        engine = options.engines.get("{}/{}".format(model, key))
        if engine:
            artifacts.append(engine)
            keys.append(key + "+tensorrt")
    labels = dict((key, label) for key, label, _, _ in rows)
    out = []
    for key, entry in zip(keys, compare_rows(model, artifacts, images, os.path.join(options.work, model,
                                                                                   "compare.json"), options, log)):
        base = key.replace("+tensorrt", "")
        out.append(dict(entry, key=key, label=labels[base] + (" (TensorRT)" if key != base else "")))
    out += cityscapes_int8(model, frames, options, log)
    entry = get_model(model)
    return {"model": model, "images": len(frames), "reference": "PyTorch fp32", "rows": out,
            "published": [p.to_dict() for p in entry.published],
            "published_summary": published.summary(entry.published)}


def machine():
    """What the table was measured on (the docs state it)."""
    import numpy
    import onnxruntime

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next(l.split(":", 1)[1].strip() for l in handle if l.startswith("model name"))
    except (IOError, OSError, StopIteration):
        pass
    try:
        import torch
        torch_version = torch.__version__
    except ImportError:
        torch_version = None
    return {"cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
            "onnxruntime": onnxruntime.__version__, "torch": torch_version, "numpy": numpy.__version__,
            "date": datetime.date.today().isoformat()}


def _pct(value):
    return "" if value is None else "{:.2f}".format(100.0 * value)


def _signed(value):
    return "" if value is None else "{:+.3f}".format(value)


def _float_convs(int8):
    if not int8 or int8.get("convs") is None:
        return ""
    share = int8.get("float_share")
    return "{} of {}{}".format(int8["float_convs"], int8["convs"], "" if share is None else " ({:.1f}%)".format(
        100.0 * share))


def camvid_markdown(data):
    camvid = data["camvid"]
    figures = dict((p["metric"], p["printed"]) for p in camvid["published"])
    lines = ["**{}** on the whole CamVid test split ({} frames, 480x360), `espnet-edge eval`; published: mIoU {} "
             "(void counted), class average {} ([sacmehta/ESPNet README]({})).".format(
                 CAMVID_MODEL, camvid["rows"][0]["images"], figures.get("miou"), figures.get("class_average"),
                 camvid["published"][0]["source"]["url"]), "",
             "| path | mIoU | Δ fp32 | mIoU, void counted | class average | Δ fp32 | bar (Δ mIoU) | float Convs "
             "(MACs float) | TensorRT mIoU (Δ) |", "|---|---:|---:|---:|---:|---:|---|---:|---:|"]
    for row in camvid["rows"]:
        bar = row.get("bar")
        trt = row.get("tensorrt")
        lines.append("| {} | {} | {} | {} | {} | {} | {} | {} | {} |".format(
            row["label"], _pct(row["miou"]), _signed(row["d_miou"]), _pct(row["miou_void_counted"]),
            _pct(row["class_average"]), _signed(row["d_class_average"]),
            "" if not bar else "{} ±{:g}".format("pass" if bar["passed"] else "**FAIL**", bar["max_abs_d_miou"]),
            _float_convs(row.get("int8")),
            "{} ({})".format(_pct(trt["miou"]), _signed(trt["d_miou"])) if trt else "no engine"))
    return lines


def cityscapes_markdown(table):
    lines = ["**{}** against PyTorch fp32 on the {} real Cityscapes frames of ../shared (2048x1024; network "
             "at its own size), `espnet-edge compare`; published: {}.".format(
                 table["model"], table["images"], table["published_summary"] or "none"), "",
             "| path | pixels agreeing | worst frame | mIoU vs fp32 | max abs logit diff | bar | float Convs (MACs "
             "float) |", "|---|---:|---:|---:|---:|---|---:|"]
    for row in table["rows"]:
        diff, bar = row["max_abs_logit_diff"], row.get("bar")
        lines.append("| {} | {:.3f}% | {:.3f}% | {} | {} | {} | {} |".format(
            row["label"], 100.0 * row["agreement"], 100.0 * row["min_image_agreement"],
            _pct(row["miou_vs_reference"]), "" if diff is None else "{:.2e}".format(diff),
            "" if not bar else "{} >= {:g}%".format("pass" if bar["passed"] else "**FAIL**",
                                                    100 * bar["min_agreement"]),
            _float_convs(row.get("int8"))))
    return lines


def render_markdown(data):
    m = data["machine"]
    lines = ["Measured {} on {} ({} cores; {}), Python {}, ONNX Runtime {}, PyTorch {}; `{}`.".format(
        m["date"], m["cpu"], m["cores"], m["platform"], m["python"], m["onnxruntime"], m["torch"],
        data["command"]), ""]
    lines += camvid_markdown(data) if data.get("camvid") else []
    for table in data.get("cityscapes", []):
        lines += [""] + cityscapes_markdown(table)
    return "\n".join(lines) + "\n"


def update_docs(path, markdown):
    with open(path) as handle:
        text = handle.read()
    if MARKERS[0] not in text or MARKERS[1] not in text:
        raise SystemExit("{} has no {} ... {} markers for the table".format(path, *MARKERS))
    head, rest = text.split(MARKERS[0], 1)
    tail = rest.split(MARKERS[1], 1)[1]
    with atomic_open(path) as handle:
        handle.write(head + MARKERS[0] + "\n" + markdown + MARKERS[1] + tail)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="folder for accuracy.json (and accuracy_table.md without --docs)")
    parser.add_argument("--work", default=os.path.join(ROOT, "export", "accuracy"),
                        help="exports and eval/compare JSONs (default: export/accuracy)")
    parser.add_argument("--reuse", action="store_true", help="reuse exports and JSONs already in --work")
    parser.add_argument("--docs", help="a Markdown file whose marked block receives the table")
    parser.add_argument("--threads", default="1", help="threads for every run (default 1)")
    parser.add_argument("--only", choices=("camvid", "cityscapes"), help="one part of the table")
    parser.add_argument("--models", nargs="+", default=list(CITYSCAPES_MODELS), choices=CITYSCAPES_MODELS,
                        help="the Cityscapes checkpoints of the table (default: both)")
    parser.add_argument("--engine", action="append", default=[], metavar="ROW=FILE",
                        help="a TensorRT engine for a row (camvid/ort-fp16=..., espnet-q8/ort-fp16=...)")
    options = parser.parse_args(argv)
    options.engines = {}
    for item in options.engine:
        key, _, path = item.partition("=")
        if not path or not os.path.isfile(path):
            parser.error("--engine takes ROW=FILE with an existing engine file, got {!r}".format(item))
        options.engines[key] = path
    return options


def main(argv=None):
    options = parse_args(argv)
    log = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
    data = {"command": "python scripts/accuracy_table.py " + " ".join(sys.argv[1:] if argv is None else argv),
            "machine": machine(), "bars": {"fp16_max_abs_d_miou": FP16_BAR, "frame_max_abs_d_miou": FRAME_BAR,
                                      "int8_max_abs_d_miou": INT8_BAR, "int8_min_agreement": AGREEMENT_BAR}}
    if options.only in (None, "camvid"):
        rows, figures = camvid_table(options, log)
        data["camvid"] = {"model": CAMVID_MODEL, "rows": rows, "published": figures}
    if options.only in (None, "cityscapes"):
        data["cityscapes"] = [cityscapes_table(model, options, log) for model in options.models]
    markdown = render_markdown(data)
    os.makedirs(options.out, exist_ok=True)
    write_json(os.path.join(options.out, "accuracy.json"), data)
    if options.docs:
        update_docs(options.docs, markdown)
    else:
        with atomic_open(os.path.join(options.out, "accuracy_table.md")) as handle:
            handle.write(markdown)
    print(markdown)
    rows = data.get("camvid", {}).get("rows", []) + [r for t in data.get("cityscapes", []) for r in t["rows"]]
    failed = [r["label"] for r in rows if r.get("bar") and not r["bar"]["passed"]]
    if failed:
        print("bars failed: " + "; ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
