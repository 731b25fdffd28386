"""What `espnet-edge --help` and `espnet-edge tegrastats LOG` import before they do anything, against a
reference checkout (default /work/main), in interleaved rounds.

    python benchmarks/bench_cli_startup.py [--rounds 15] [--reference /work/main]

Each round runs the command (cli.main.main under `python -X importtime`) once per checkout and command, alternating
which checkout goes first; per checkout and command: the summed import time of the top-level imports
(median and minimum over the rounds, microseconds as -X importtime reports them), how many espnet_edge
modules were imported, and which heavy libraries (numpy, cv2, torch, onnx, onnxruntime, matplotlib, PIL)
were. Import time is what start-up costs beyond the interpreter itself; on a shared machine compare the
two checkouts of one run (ratios), not absolute numbers. Prints a table and writes
benchmarks/results/bench_cli_startup-<host>-<time>.json. Not a test.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CHECKOUT = os.path.dirname(HERE)
SHARED = os.environ.get("ESPNET_EDGE_SHARED", os.path.join(os.path.dirname(CHECKOUT), "shared"))
LOG = os.path.join(SHARED, "jetson", "tegrastats", "tx2-4gb-family_jp4.6_1.txt")
HEAVY = ("numpy", "cv2", "torch", "onnx", "onnxruntime", "matplotlib", "PIL")
COMMANDS = (("--help", ["--help"]), ("tegrastats LOG", ["tegrastats", LOG]))


# the command as `python -m espnet_edge` runs it, then the names of every module it imported (importlib's
# imports of command modules do not show in -X importtime's lines, sys.modules has them)
RUN = """
import json, sys
from espnet_edge.cli.main import main
try:
    code = main(sys.argv[2:])
finally:   # --help ends in SystemExit
    with open(sys.argv[1], "w") as handle:
        json.dump(sorted(sys.modules), handle)
sys.exit(code)
"""


def one_run(checkout, argv, modules_file):
    """-> (summed top-level import time in us, [imported module names])."""
    env = dict(os.environ, PYTHONPATH=checkout)
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", RUN, modules_file] + argv, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, cwd=checkout)
    if proc.returncode != 0:
        raise SystemExit("{} {} failed: {}".format(checkout, argv, proc.stderr[-2000:]))
    total = 0
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _self, cumulative, name = line[len("import time:"):].split("|")
        if not name.startswith("  "):   # a top-level import: its cumulative time holds its children
            total += int(cumulative)
    with open(modules_file) as handle:
        return total, json.load(handle)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--reference", default="/work/main", help="checkout to compare with (default %(default)s)")
    args = parser.parse_args()
    checkouts = (("reference", os.path.abspath(args.reference)), ("this", CHECKOUT))
    times = dict(((who, label), []) for who, _ in checkouts for label, _ in COMMANDS)
    modules = {}
    modules_file = os.path.join(tempfile.mkdtemp(), "modules.json")
    for number in range(args.rounds):
        order = checkouts if number % 2 == 0 else checkouts[::-1]
        for label, argv in COMMANDS:
            for who, path in order:
                total, names = one_run(path, argv, modules_file)
                times[(who, label)].append(total)
                modules[(who, label)] = names
    rows = []
    for (who, label), values in sorted(times.items(), key=lambda item: (item[0][1], item[0][0])):
        names = modules[(who, label)]
        rows.append({"command": label, "checkout": who, "median_us": statistics.median(values), "min_us": min(values),
                     "espnet_edge_modules": sum(1 for n in names if n.split(".")[0] == "espnet_edge"),
                     "heavy": sorted({n.split(".")[0] for n in names if n.split(".")[0] in HEAVY})})
    table = ["| command | checkout | import median ms | min ms | espnet_edge modules | heavy libraries |",
             "|---|---|---|---|---|---|"]
    table += ["| {} | {} | {:.1f} | {:.1f} | {} | {} |".format(
        r["command"], r["checkout"], r["median_us"] / 1000.0, r["min_us"] / 1000.0, r["espnet_edge_modules"],
        ", ".join(r["heavy"]) or "none") for r in rows]
    print("\n".join(table))
    note = "{} rounds, interleaved; reference {}; load average {:.1f}".format(
        args.rounds, checkouts[0][1], os.getloadavg()[0])
    print(note)
    out = os.path.join(HERE, "results", "bench_cli_startup-{}-{}.json".format(platform.node(),
                                                                            time.strftime("%Y%m%d-%H%M%S")))
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as handle:
        json.dump({"rows": rows, "table": table, "note": note}, handle, indent=2)
    print("wrote " + out)


if __name__ == "__main__":
    main()
