"""``espnet-edge``: one entry point, one module per subcommand, one-line errors for user mistakes."""

import argparse
import importlib
import sys

from espnet_edge import __version__
from espnet_edge.errors import UserError
from espnet_edge.utils import log
from espnet_edge.utils.atomic import WRITE_ERRNOS

# subcommand -> module in espnet_edge.cli; each module has add_parser(subparsers) that sets func.
# A run imports only the module of the command it names (build_parser(only=...)): start-up stays light.
COMMANDS = (
    ("models", "cmd_models"),
    ("doctor", "cmd_doctor"),
    ("segment", "cmd_segment"),
    ("export", "cmd_export"),
    ("check-onnx", "cmd_check_onnx"),
    ("build", "cmd_build"),
    ("bench", "cmd_bench"),
    ("clocks", "cmd_clocks"),
    ("tegrastats", "cmd_tegrastats"),
    ("profile", "cmd_profile"),
    ("sweep", "cmd_sweep"),
    ("demo", "cmd_demo"),
    ("eval", "cmd_eval"),
    ("compare", "cmd_compare"),
    ("report", "cmd_report"),
)
# what `espnet-edge --help` says of each command without importing its module (its parser has the same help)
SUMMARIES = {
    "models": "list the model zoo (with the authors' published accuracy)",
    "doctor": "check what this machine can do",
    "segment": "segment images into class masks",
    "export": "export a zoo model to ONNX (fp32, fp16, INT8) and verify it",
    "check-onnx": "check an ONNX file against TensorRT's ONNX operator matrix",
    "build": "build a TensorRT engine from an ONNX file (run it on the Jetson)",
    "bench": "measure latency and FPS",
    "clocks": "show, pin or restore the Jetson GPU clock",
    "tegrastats": "parse a tegrastats log into a table or JSON lines",
    "profile": "measure FPS, power and energy per frame of one network",
    "sweep": "profile networks across GPU frequencies and plot FPS/sensitivity/power/energy",
    "demo": "segment a camera/stream/video/images live, with legend and HUD",
    "eval": "accuracy (per-class IoU, mIoU) on a labelled dataset",
    "compare": "compare backends/precisions of one network (logits, masks, mIoU)",
    "report": "Fig. 7 of the ESPNet paper from recorded runs: size, FPS, sensitivity, utilisation, kernel "
              "efficiency, power over time; table and one HTML page",
}
ALL = object()   # build_parser(only=ALL): every command's own parser (tests, help of every command)


def add_verbosity_args(parser, default=None):
    """--verbose/--quiet, accepted before the subcommand and after it (there with SUPPRESS, so the
    subcommand's parse does not overwrite what was given before it)."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("-v", "--verbose", dest="verbosity", action="store_const", const=1, default=default,
                       help="also show debug lines")
    group.add_argument("-q", "--quiet", dest="verbosity", action="store_const", const=-1, default=default,
                       help="show only warnings and errors (no notes)")


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, "{}: error: {} (see --help)\n".format(self.prog, message))


class _Summarised(object):
    """The subparsers action as a command module sees it: add_parser gives the command its summary."""

    def __init__(self, subparsers):
        self._subparsers = subparsers

    def add_parser(self, name, **options):
        options.setdefault("help", SUMMARIES[name])
        return self._subparsers.add_parser(name, **options)


def command_named(argv):
    """The subcommand ``argv`` names: its first word that is not an option (the top level's options
    take no values), or None."""
    for word in argv:
        if not word.startswith("-"):
            return word
    return None


def build_parser(only=ALL):
    """The parser of every command (``only`` ALL), or of the command ``only`` names with the others listed
    by their summary (None or an unknown name: only the summaries, enough for --help and for argparse's
    'invalid choice' line)."""
    parser = _Parser(prog="espnet-edge", description=(
        "ESPNet/ESPNetv2 from PyTorch to ONNX and TensorRT, benchmarked and profiled on NVIDIA Jetson."))
    parser.add_argument("--version", action="version", version="espnet-edge " + __version__)
    add_verbosity_args(parser, default=0)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, module_name in COMMANDS:
        if only is not ALL and only != name:
            subparsers.add_parser(name, help=SUMMARIES[name])
            continue
        try:
            module = importlib.import_module("espnet_edge.cli." + module_name)
        except ImportError as exc:
            if getattr(exc, "name", "") == "espnet_edge.cli." + module_name:
                continue  # command not built yet
            raise
        module.add_parser(_Summarised(subparsers))
    for subparser in subparsers.choices.values():
        add_verbosity_args(subparser, default=argparse.SUPPRESS)
    return parser


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        parser = build_parser(only=command_named(argv))
    except KeyboardInterrupt:   # Ctrl-C while the subcommands are imported: no traceback
        sys.stderr.write("espnet-edge: interrupted\n")
        return 130
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    log.setup(args.verbosity, args.command)
    try:
        result = args.func(args)
    except UserError as exc:
        sys.stderr.write("espnet-edge {}: error: {}\n".format(args.command, exc))
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("espnet-edge {}: interrupted\n".format(args.command))
        return 130
    except BrokenPipeError:
        return 0
    except OSError as exc:   # a write that no helper checked (disk full, read-only): still one line
        if exc.errno not in WRITE_ERRNOS:
            raise
        sys.stderr.write("espnet-edge {}: error: {}{}\n".format(
            args.command, exc.strerror or exc, ": " + str(exc.filename) if exc.filename else ""))
        return 1
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
