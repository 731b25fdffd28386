"""``espnet-edge``: one entry point, one module per subcommand, one-line errors for user mistakes."""

import argparse
import importlib
import sys

from espnet_edge import __version__
from espnet_edge.errors import UserError
from espnet_edge.utils import log

# subcommand -> module in espnet_edge.cli; each module has add_parser(subparsers) that sets func.
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


def build_parser():
    parser = _Parser(prog="espnet-edge", description=(
        "ESPNet/ESPNetv2 from PyTorch to ONNX and TensorRT, benchmarked and profiled on NVIDIA Jetson."))
    parser.add_argument("--version", action="version", version="espnet-edge " + __version__)
    add_verbosity_args(parser, default=0)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for _name, module_name in COMMANDS:
        try:
            module = importlib.import_module("espnet_edge.cli." + module_name)
        except ImportError as exc:
            if getattr(exc, "name", "") == "espnet_edge.cli." + module_name:
                continue  # command not built yet
            raise
        module.add_parser(subparsers)
    for subparser in subparsers.choices.values():
        add_verbosity_args(subparser, default=argparse.SUPPRESS)
    return parser


def main(argv=None):
    try:
        parser = build_parser()
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
        from espnet_edge.utils.atomic import WRITE_ERRNOS

        if exc.errno not in WRITE_ERRNOS:
            raise
        sys.stderr.write("espnet-edge {}: error: {}{}\n".format(
            args.command, exc.strerror or exc, ": " + str(exc.filename) if exc.filename else ""))
        return 1
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
