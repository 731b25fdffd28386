#!/usr/bin/env python3
"""A stand-in for /usr/bin/tegrastats that replays REAL recorded lines (tests only).

Prints the lines of a corpus file (``$REPLAY_TEGRASTATS_FILE``, default the TX2 L4T 32 log in
../shared/jetson/tegrastats) one per ``--interval`` ms, looping, until SIGTERM/SIGINT.
``--stop`` and ``--logfile FILE`` behave minimally like the real tool. For failure tests:
``$REPLAY_TEGRASTATS_EXIT_AFTER=N`` exits with code 1 after N lines, and
``$REPLAY_TEGRASTATS_FAIL=permission`` exits at once like a non-root tegrastats that cannot read.
Hostile output: ``$REPLAY_TEGRASTATS_GARBLE=N`` puts bytes that are not UTF-8 (0xff 0xfe, a lone
continuation byte) into every Nth line, as a serial glitch would; ``$REPLAY_TEGRASTATS_SILENT_AFTER=N``
prints N lines, then stays alive printing nothing.
"""

import argparse
import os
import signal
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
# ../shared beside the checkout, or $ESPNET_EDGE_SHARED as conftest.py reads it
SHARED = os.environ.get("ESPNET_EDGE_SHARED", os.path.join(os.path.dirname(os.path.dirname(HERE)), "shared"))
DEFAULT = os.path.join(SHARED, "jetson", "tegrastats", "tx2_l4t32-inferred_1.txt")


def main():
    parser = argparse.ArgumentParser(prog="tegrastats")
    parser.add_argument("--interval", type=int, default=1000)
    parser.add_argument("--logfile")
    parser.add_argument("--stop", action="store_true")
    args = parser.parse_args()
    if args.stop:
        return 0
    if os.environ.get("REPLAY_TEGRASTATS_FAIL") == "permission":
        sys.stderr.write("Error: Failed to open /sys/kernel/debug/bpmp/debug/clk: Permission denied\n")
        return 1
    path = os.environ.get("REPLAY_TEGRASTATS_FILE", DEFAULT)
    with open(path) as handle:
        lines = [line.rstrip("\n") for line in handle if line.strip()]
    exit_after = int(os.environ.get("REPLAY_TEGRASTATS_EXIT_AFTER", "0") or 0)
    garble = int(os.environ.get("REPLAY_TEGRASTATS_GARBLE", "0") or 0)
    silent_after = int(os.environ.get("REPLAY_TEGRASTATS_SILENT_AFTER", "0") or 0)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    out = open(args.logfile, "a") if args.logfile else sys.stdout
    printed = 0
    try:
        while True:
            for line in lines:
                time.sleep(args.interval / 1000.0)
                if silent_after and printed >= silent_after:
                    continue   # alive, saying nothing
                if garble and printed % garble == garble - 1:
                    middle = len(line) // 2
                    data = line[:middle].encode() + b"\xff\xfe\x80" + line[middle:].encode() + b"\n"
                    out.flush()
                    getattr(out, "buffer", out).write(data)
                else:
                    out.write(line + "\n")
                out.flush()
                printed += 1
                if exit_after and printed >= exit_after:
                    return 1
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
