"""espnet-edge models: the zoo as a table."""

import json
import logging

from espnet_edge import zoo
from espnet_edge.cli.args import add_output_args
from espnet_edge.utils.parsing import format_size
from espnet_edge.weights import env_problem, weights_status

log = logging.getLogger(__name__)


def add_parser(subparsers):
    parser = subparsers.add_parser("models", help="list the model zoo",
                                   description="List every zoo model with its dataset, classes, "
                                   "input size, parameters, GFLOPs and whether its weights are here.")
    add_output_args(parser, json="print")
    parser.set_defaults(func=run)


def rows():
    out = []
    for name in zoo.list_models():
        entry = zoo.get_model(name)
        status, path = weights_status(entry)
        out.append({
            "name": name, "dataset": entry.dataset, "classes": entry.num_classes,
            "size": format_size(entry.input_size), "params": entry.params,
            "gflops": entry.gflops,
            "weights": path, "weights_status": status, "sha256": entry.sha256,
            "architecture_only": entry.architecture_only, "weights_from": entry.weights_from,
        })
    return out


def run(args):
    problem = env_problem()
    if problem:
        log.warning(problem)
    table = rows()
    if args.json:
        print(json.dumps(table, indent=2))
        return 0
    header = ("name", "dataset", "classes", "size", "params", "GFLOPs", "weights")
    lines = [header]
    for row in table:
        lines.append((row["name"], row["dataset"], str(row["classes"]), row["size"],
                      "{:,}".format(row["params"]),
                      "{:.2f}".format(row["gflops"]) if row["gflops"] is not None else "-",
                      row["weights_status"]))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for line in lines:
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(line)).rstrip())
    aliases = ", ".join("{} = {}".format(k, v) for k, v in sorted(zoo.aliases().items()))
    print("aliases: " + aliases)
    if any(row["architecture_only"] for row in table):
        print("architecture only: deterministic weights for speed/power runs; segment/eval/demo need "
              "--weights (a checkpoint of the implementation `models --json` names in weights_from)")
    return 0
