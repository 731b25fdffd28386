"""espnet-edge doctor: what this machine offers, and what each missing piece disables."""

import json
import os

from espnet_edge import api
from espnet_edge.apps.selftest import summary_lines
from espnet_edge.cli.args import add_output_args
from espnet_edge.errors import UserError
from espnet_edge.utils.atomic import ensure_writable_dir


def add_parser(subparsers):
    parser = subparsers.add_parser("doctor",
                                   description="Report Python, torch, ONNX Runtime, TensorRT, CUDA, the "
                                   "Jetson board and its tools, and what each missing piece disables.")
    parser.add_argument("--selftest", action="store_true", help="for the first run on a board: build and run a "
                        "tiny TensorRT engine through every I/O path (with and without CUDA graph) against numpy, "
                        "read the GPU clock, dry-run a pin and restore, read 2 s of tegrastats and the power "
                        "rails; writes one JSON report (what it could not do is listed with the reason)")
    add_output_args(parser, out="--selftest report path (default %(default)s)", out_metavar="FILE",
                    out_default="espnet-edge-selftest.json", json="print")
    parser.set_defaults(func=run)


def _fmt(value):
    if isinstance(value, dict):
        return ", ".join("{}={}".format(k, v) for k, v in value.items() if v not in (None, "", [], {}))
    return str(value)


def run_selftest(args):
    out = os.path.abspath(args.out)
    if os.path.isdir(out):
        raise UserError("--out {} is a folder: give a file name for the JSON report".format(args.out))
    ensure_writable_dir(os.path.dirname(out))
    report = api.selftest(out)
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    else:
        for line in summary_lines(report):
            print(line)
        print("report: {}".format(out))
    return 1 if report["failed"] else 0


def run(args):
    if args.selftest:
        return run_selftest(args)
    checks = [check.to_dict() for check in api.doctor()]
    if args.json:
        print(json.dumps(checks, indent=2, default=str))
        return 0
    width = max(len(c["name"]) for c in checks)
    for check in checks:
        if check["ok"]:
            print("  ok    {}  {}".format(check["name"].ljust(width), _fmt(check["value"])))
        else:
            print("  --    {}  missing: disables {}".format(check["name"].ljust(width), check["disables"]))
    return 0
