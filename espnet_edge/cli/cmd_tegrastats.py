"""espnet-edge tegrastats: parse a tegrastats log (any Jetson) into a table or JSON lines."""

import json
import sys

from espnet_edge.cli.args import add_output_args
from espnet_edge.errors import UserError


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "tegrastats", help="parse a tegrastats log into a table or JSON lines",
        description="Parse tegrastats output from any Jetson generation (TX1 to Orin/JetPack 7, root "
        "or not, with or without timestamps). Tokens the parser does not know are kept under 'unknown'. "
        "Each line's board input power is total_mw, made as total_rails says (docs/profiler.md). "
        "--json prints one JSON object per line.")
    parser.add_argument("file", metavar="FILE", help="tegrastats log ('-' reads stdin)")
    add_output_args(parser, json="print")
    parser.set_defaults(func=run)


def _lines(path):
    if path == "-":
        return sys.stdin.buffer.read().decode("utf-8", "replace").splitlines()
    from espnet_edge.utils.pathchecks import file_problem

    problem = file_problem(path, "log", allow_empty=True)
    if problem:
        raise UserError("cannot read tegrastats log {}: it {}".format(path, problem))
    try:
        with open(path, "rb") as handle:
            return handle.read().decode("utf-8", "replace").splitlines()   # a garbled byte is one token lost
    except (IOError, OSError) as exc:
        raise UserError("cannot read {}: {}".format(path, exc.strerror or exc))


def _fmt(value, spec="{}"):
    return "-" if value is None else spec.format(value)


def table_row(record):
    from espnet_edge.profiler.tegrastats import cpu_load_pct, hottest

    sensor, hottest_c = hottest(record)
    freqs = [f for f in record.gpu_freq_mhz if f is not None]
    return (
        record.time or "-",
        _fmt(record.ram_used_mb) + "/" + _fmt(record.ram_total_mb),
        _fmt(cpu_load_pct(record), "{:.0f}%"),
        "{}/{}".format(sum(1 for c in record.cpu or [] if c), len(record.cpu or [])),
        _fmt(record.gpu_load_pct, "{}%"),
        ",".join(str(f) for f in freqs) or "-",
        _fmt(record.emc_load_pct, "{}%") + "@" + _fmt(record.emc_freq_mhz),
        _fmt(record.total_mw),
        "-" if sensor is None else "{:.1f} {}".format(hottest_c, sensor),
        str(len(record.unknown)),
    )


def run(args):
    from espnet_edge.profiler.tegrastats import is_sample, parse_line

    lines = [line for line in _lines(args.file) if line.strip()]
    if not lines:
        raise UserError("{} holds no lines; give a file written by `tegrastats --logfile`".format(args.file))
    records = [parse_line(line) for line in lines]
    if not any(is_sample(r) for r in records):
        raise UserError("{} holds no tegrastats lines (no RAM/CPU/rail fields in any of {} lines)".format(
            args.file, len(lines)))
    if args.json:
        for record in records:
            print(json.dumps(record.to_dict(), sort_keys=False, allow_nan=False))
        return 0
    header = ("time", "RAM MB", "CPU", "cores", "GPU", "GPU MHz", "EMC", "input mW", "hottest C", "unknown")
    rows = [header] + [table_row(r) for r in records]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    return 0
