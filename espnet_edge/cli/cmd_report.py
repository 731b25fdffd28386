"""espnet-edge report: the ESPNet paper's Fig. 7 for N networks from recorded runs (sweeps or profile runs)."""

import os
import shutil

from espnet_edge.cli.args import add_output_args
from espnet_edge.errors import UserError


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "report", help="Fig. 7 of the ESPNet paper from recorded runs: size, FPS, sensitivity, utilisation, "
        "kernel efficiency, power over time; table and one HTML page",
        description="Reads profile/sweep run folders (here or recorded on another machine) and writes "
        "fig7.png, one PNG per panel (a-g), fig7_table.md/.csv, fig7.html (every panel on one page) and "
        "fig7.json into a new --out folder. Runs made on a simulated board are labelled simulated.")
    parser.add_argument("runs", nargs="*", metavar="RUNS", help="sweep folders, profile run folders or folders of them")
    parser.add_argument("--from-logs", action="append", default=[], metavar="DIR",
                        help="more recorded run folders (repeatable; same as RUNS)")
    add_output_args(parser, out="new folder for the report (never overwritten)", out_required=True)
    parser.add_argument("--power-freqs", metavar="MHZ,MHZ",
                        help="the two GPU frequencies of panels f and g (default: runs near 824 and 1134 MHz, "
                        "the paper's, else the lowest and highest)")
    parser.add_argument("--kernels", action="append", default=[], metavar="FILE",
                        help="kernels.json from `profile --kernels` (repeatable); kernels.json inside run "
                        "folders is read by itself")
    parser.add_argument("--accuracy", action="append", default=[], metavar="EVAL_JSON",
                        help="an `espnet-edge eval --json` result (repeatable; eval.json / eval-*.json in a RUNS "
                        "folder are read by themselves): mIoU per network and mIoU against FPS and energy "
                        "per frame, matched to runs by file, else model/precision/backend")
    parser.add_argument("--simulated", action="store_true",
                        help="label every panel simulated even if the runs do not say so")
    parser.set_defaults(func=run)


def _power_freqs(text):
    if not text:
        return None
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UserError("--power-freqs takes two frequencies in MHz, e.g. 828,1134 (got {!r})".format(text))
    if len(values) != 2 or values[0] == values[1] or min(values) <= 0:
        raise UserError("--power-freqs takes two different positive frequencies in MHz, e.g. 828,1134")
    return values


def run(args):
    from espnet_edge.profiler import accuracy_panels, fig7
    from espnet_edge.utils.atomic import publish_dir, staging_dir
    from espnet_edge.profiler.sweep import load_runs

    folders = list(args.runs) + list(args.from_logs)
    if not folders:
        raise UserError("name the recorded runs: espnet-edge report SWEEP_OR_RUN_FOLDER... --out DIR")
    wanted = _power_freqs(args.power_freqs)
    target = os.path.abspath(args.out)
    if os.path.lexists(target):
        raise UserError("{} already exists; a report never overwrites: choose a new --out".format(target))
    from espnet_edge.cli import validate

    validate.output_dir(target, "--out")
    for flag, paths in (("--kernels", args.kernels), ("--accuracy", args.accuracy)):
        for path in paths:
            if not os.path.isfile(path):
                raise UserError("{} {} does not exist".format(flag, path))
    evals = list(args.accuracy) + accuracy_panels.find_evals(folders)
    # a sweep folder holds its own summary.json beside runs/: read the runs
    folders = [os.path.join(f, "runs") if os.path.isdir(os.path.join(f, "runs")) else f for f in folders]
    runs = load_runs([os.path.abspath(f) for f in folders])
    data = accuracy_panels.attach(fig7.build(runs, wanted, args.kernels, True if args.simulated else None), evals)
    tmp = staging_dir(target)
    try:
        pngs = fig7.write_report(tmp, data)
        if os.path.exists(target):
            raise UserError("{} appeared while the report was written; it is never overwritten".format(target))
        publish_dir(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    print("wrote {} ({} networks, {} runs{}): fig7.html, fig7.png, {}".format(
        target, len(data["labels"]), len(runs), ", SIMULATED" if data["simulated"] else "",
        ", ".join(os.path.basename(p) for p in pngs[:-1])))
    for item in data["missing"]:
        print("missing: " + item)
    return 0
