"""espnet-edge models: the zoo as a table; `models NAME`: one entry with its published figures and sources."""

import json
import logging

from espnet_edge import published, zoo
from espnet_edge.cli.args import add_output_args
from espnet_edge.utils.parsing import format_size
from espnet_edge.weights import env_problem, weights_status

log = logging.getLogger(__name__)

VOID_COUNTED_NOTE = ("*: void-labelled pixels predicted as a class count against it, the authors' convention "
                     "(`eval --count-void` reproduces it)")


def add_parser(subparsers):
    parser = subparsers.add_parser("models", help="list the model zoo (with the authors' published accuracy)",
                                   description="List every zoo model with its dataset, classes, input size, "
                                   "parameters, GFLOPs, published accuracy and whether its weights are here; "
                                   "with NAME, that entry with every published figure and its source.")
    parser.add_argument("name", nargs="?", metavar="NAME", help="one model (or alias): details and sources")
    add_output_args(parser, json="print")
    parser.set_defaults(func=run)


def row(entry):
    status, path = weights_status(entry)
    return {
        "name": entry.name, "dataset": entry.dataset, "classes": entry.num_classes,
        "size": format_size(entry.input_size), "params": entry.params,
        "gflops": entry.gflops,
        "weights": path, "weights_status": status, "sha256": entry.sha256,
        "architecture_only": entry.architecture_only, "weights_from": entry.weights_from,
        "published": [figure.to_dict() for figure in entry.published],
    }


def rows():
    return [row(zoo.get_model(name)) for name in zoo.list_models()]


def _print_table(lines):
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    for line in lines:
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(line)).rstrip())


def _print_entry(entry):
    data = row(entry)
    print("{}: {} ({}), {} classes, {} input, {:,} parameters, {:.2f} GFLOPs, weights {}".format(
        entry.name, entry.family, entry.dataset, entry.num_classes, data["size"], entry.params, entry.gflops,
        data["weights"] or ("architecture only" if entry.architecture_only else "not here (downloaded on use)")))
    if not entry.published:
        print("published accuracy: none for this checkpoint")
        return
    print("published accuracy:")
    for figure in entry.published:
        print("  {} {}{}: {}  ({})".format(
            figure.dataset, figure.describe(),
            " at {}".format(format_size(figure.size)) if figure.size else "", figure.source.cite(),
            figure.source.url))
        for line in (figure.source.quote and '"{}"'.format(figure.source.quote), figure.note):
            if line:
                print("      " + line)


def run(args):
    problem = env_problem()
    if problem:
        log.warning(problem)
    if args.name:
        entry = zoo.get_model(args.name)
        if args.json:
            print(json.dumps(row(entry), indent=2))
        else:
            _print_entry(entry)
        return 0
    table = rows()
    if args.json:
        print(json.dumps(table, indent=2))
        return 0
    lines = [("name", "dataset", "classes", "size", "params", "GFLOPs", "weights", "published (%)")]
    for item in table:
        lines.append((item["name"], item["dataset"], str(item["classes"]), item["size"],
                      "{:,}".format(item["params"]),
                      "{:.2f}".format(item["gflops"]) if item["gflops"] is not None else "-",
                      item["weights_status"],
                      published.summary(zoo.get_model(item["name"]).published) or "-"))
    _print_table(lines)
    aliases = ", ".join("{} = {}".format(k, v) for k, v in sorted(zoo.aliases().items()))
    print("aliases: " + aliases)
    print(VOID_COUNTED_NOTE + "; sources: `espnet-edge models NAME`")
    if any(item["architecture_only"] for item in table):
        print("architecture only: deterministic weights for speed/power runs; segment/eval/demo need "
              "--weights (a checkpoint of the implementation `models --json` names in weights_from)")
    return 0
