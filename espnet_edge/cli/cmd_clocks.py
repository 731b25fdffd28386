"""espnet-edge clocks: show the Jetson GPU clock, pin it (set MHZ) until `restore`."""

import json
import sys

from espnet_edge.cli import validate
from espnet_edge.cli.args import add_output_args
from espnet_edge.errors import UserError
from espnet_edge.jetson import clock_state, clocks, detect, nvpmodel


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "clocks", help="show, pin or restore the Jetson GPU clock",
        description="show: board, L4T/JetPack, nvpmodel mode, GPU governor, frequency table, min/max/current. "
        "set MHZ: pin the GPU to the nearest table step until `clocks restore` (the original state is saved). "
        "restore: put back what `set` saved, and a GPU or memory (EMC) clock pin left by a run that was "
        "killed. Paths honour ESPNET_EDGE_SYSFS_ROOT.")
    parser.add_argument("action", choices=("show", "set", "restore"))
    parser.add_argument("mhz", nargs="?", type=validate.mhz, metavar="MHZ",
                        help="frequency in MHz for `set` (snapped to the nearest table step)")
    parser.add_argument("--dry-run", action="store_true", help="print the sysfs writes without doing them")
    add_output_args(parser, json="print")
    parser.set_defaults(func=run)


def gather():
    info = detect.detect()
    if not info.is_jetson:
        gated = detect.find_gated_gpu()
        if gated is not None:
            raise UserError("found the Jetson GPU {} but its devfreq node is not registered (rail-gated since "
                            "boot); `sudo espnet-edge clocks set MHZ` powers it up once, or run any CUDA program "
                            "first".format(gated.describe()))
        raise UserError(clocks.NOT_JETSON.replace("--freq needs", "clocks needs"))
    report = info.to_dict()
    mode = report["nvpmodel"] = nvpmodel.current_mode()
    states = [clocks.GpuState(gpu) for gpu in info.gpus]
    report["gpus"] = [state.to_dict() for state in states]
    saved = clocks.read_saved_state()
    if saved is not None and not clock_state.belongs_here(saved, info):
        saved = None   # from before a reboot: the kernel reset the clock since
    report["pinned_by_clocks_set"] = bool(saved and saved.get("persistent"))
    report["pin"] = None
    if saved is not None:
        holder, pid = clock_state.owner(saved)
        report["pin"] = {"owner": holder, "pid": pid, "saved_at": saved.get("saved_at"),
                         "original": saved["gpus"]}
    report["emc_pin"] = _emc_pin(info)
    if mode and mode.get("gpu_max_hz"):
        mode["gpu_cap_mhz"] = clocks.mhz(nvpmodel.effective_cap_hz(mode["gpu_max_hz"], states[0].table,
                                                                  info.kernel_generation))
    return report


def _emc_pin(info):
    """The memory clock pin a saved EMC state describes (jetson/emc.py), or None."""
    saved = clock_state.read("emc")
    if saved is None or not clock_state.belongs_here(saved, info):
        return None
    holder, pid = clock_state.owner(saved)
    return {"owner": holder, "pid": pid, "saved_at": saved.get("saved_at"), "original": saved["emc"]}


def _fmt(value):
    return "-" if value is None else "{:g}".format(round(value, 3))


def print_report(report, out=None):
    out = out or sys.stdout   # the stream of the time of the call (a redirect), not of the import
    release = "L4T {} (JetPack {})".format(report["l4t"], report["jetpack"] or "?") if report["l4t"] else "unknown"
    if report.get("jetpack_guessed"):
        release += " [guessed: not in the sourced L4T table]"
    elif report.get("jetpack_disagreement"):
        release += " [sources disagree: {}]".format(report["jetpack_disagreement"])
    lines = [("board", "{} [{}]".format(report["board_name"], report["model"] or "no model string")),
             ("release", release)]
    mode = report["nvpmodel"]
    if mode:
        cap = mode.get("gpu_cap_mhz")
        lines.append(("nvpmodel", "mode {} ({}){}{}".format(
            mode["id"], mode["name"] or "not in /etc/nvpmodel.conf",
            ", GPU cap {} MHz".format(_fmt(cap)) if cap else ", no GPU cap",
            "" if mode["source"] == "status" else " [conf default; no /var/lib/nvpmodel/status]")))
    else:
        lines.append(("nvpmodel", "not found (/etc/nvpmodel.conf)"))
    for gpu in report["gpus"]:
        cur = gpu["cur_mhz"]
        lines += [("gpu devfreq", "{} ({})".format(gpu["devfreq"], gpu["node"])),
                  ("governor", "{} (available: {})".format(gpu["governor"], " ".join(gpu["available_governors"]) or "-")),
                  ("min / max", "{} / {} MHz".format(_fmt(gpu["min_mhz"]), _fmt(gpu["max_mhz"]))),
                  ("current", "0 MHz (rail-gated: GPU idle)" if cur == 0 else "{} MHz".format(_fmt(cur))),
                  ("steps (MHz)", " ".join(_fmt(f) for f in gpu["available_mhz"]))]
    pin = report["pin"]
    if pin and pin["owner"] == "clocks set":
        lines.append(("pinned", "yes, by `espnet-edge clocks set` (undo with `espnet-edge clocks restore`)"))
    elif pin and pin["owner"] == "gone":
        lines.append(("pinned", "yes, left pinned by PID {} which is gone (killed?); put the original back "
                                "with `espnet-edge clocks restore`".format(pin["pid"])))
    elif pin:
        lines.append(("pinned", "yes, by running PID {} (it puts the clock back when it ends)".format(pin["pid"])))
    emc_pin = report.get("emc_pin")
    if emc_pin and emc_pin["owner"] == "gone":
        lines.append(("emc pinned", "yes, left pinned by PID {} which is gone (killed?); put the original {} Hz "
                                    "back with `espnet-edge clocks restore`".format(
                                        emc_pin["pid"], emc_pin["original"]["rate_hz"])))
    elif emc_pin:
        lines.append(("emc pinned", "yes, by running PID {} (it puts the memory clock back when it ends)".format(
            emc_pin["pid"])))
    width = max(len(key) for key, _ in lines)
    for key, value in lines:
        out.write("{}  {}\n".format(key.ljust(width), value))


def run(args):
    if args.action != "set" and args.mhz is not None:
        raise UserError("`clocks {}` takes no frequency; did you mean `clocks set {}`?".format(args.action, args.mhz))
    if args.action == "show":
        report = gather()
        if args.json:
            print(json.dumps(report, indent=2))
        else:
            print_report(report)
        return 0
    if args.action == "set":
        if args.mhz is None:
            raise UserError("`clocks set` needs a frequency in MHz, e.g. espnet-edge clocks set 828")
        try:
            pin = clocks.set_persistent(args.mhz, dry_run=args.dry_run, log=sys.stderr)
        except UserError as exc:
            if str(exc) == clocks.NOT_JETSON:
                raise UserError(clocks.NOT_JETSON.replace("--freq needs", "clocks set needs"))
            raise
        result = {"requested_mhz": pin.requested_mhz, "applied_mhz": pin.applied_mhz, "cur_mhz": pin.cur_mhz,
                  "dry_run": args.dry_run, "state_file": clocks.STATE_PATH,
                  "kept_earlier_saved_state": pin.kept_earlier_state}
        if args.json:
            print(json.dumps(result, indent=2))
        elif not args.dry_run:
            print("GPU pinned at {:g} MHz (requested {} MHz); `espnet-edge clocks restore` puts the original back"
                  .format(pin.applied_mhz, pin.requested_mhz))
        return 0
    from espnet_edge.jetson import emc

    emc_saved = emc.restore_saved(dry_run=args.dry_run, log=sys.stderr)
    saved = None
    if emc_saved is None or clocks.read_saved_state() is not None:
        saved = clocks.restore_persistent(dry_run=args.dry_run, log=sys.stderr)
    if args.json:
        print(json.dumps({"restored": saved["gpus"] if saved else [],
                          "emc_restored": emc_saved["emc"] if emc_saved else None, "dry_run": args.dry_run}, indent=2))
    elif not args.dry_run:
        if emc_saved is not None:
            print("EMC clock restored: {} Hz (lock {})".format(emc_saved["emc"]["rate_hz"], emc_saved["emc"]["locked"]))
        if saved is not None:
            first = saved["gpus"][0]
            print("GPU clock restored: min {:g} / max {:g} MHz, governor {}".format(
                clocks.mhz(first["min_freq"]), clocks.mhz(first["max_freq"]), first["governor"]))
    return 0
