"""The saved original state of a pinned clock (``clock``: "gpu" or "emc", one file each): written
(fsync + rename) before a pin's first sysfs write, so `espnet-edge clocks restore` can put the clock back
after any death of the pinning process, SIGKILL included. Keyed to the boot (a reboot resets the clocks)
and the board.

GPU file (board path STATE_PATH, under ESPNET_EDGE_SYSFS_ROOT):
    {"version": 1, "boot_id": ..., "board": ..., "pid": owner, "persistent": bool (clocks set),
     "saved_at": ..., "gpus": [{"devfreq", "min_freq", "max_freq", "governor"}],
     "run": optional {"pid", "saved_at", "gpus"}: a run pinned on top of a `clocks set` pin}
``gpus`` is what `clocks restore` puts back; ``run`` is what that run would have put back itself.
EMC file (EMC_STATE_PATH): the same header (never persistent, no run) with
    "emc": {"rate": board path, "lock": board path, "rate_hz": int or null, "locked": 0 or 1}
"""

import errno
import json
import os
import time

from espnet_edge.errors import UserError
from espnet_edge.jetson import sysfs
from espnet_edge.utils.atomic import write_json

STATE_PATH = "/var/tmp/espnet-edge-gpu-clock.json"
EMC_STATE_PATH = "/var/tmp/espnet-edge-emc-clock.json"
STATE_PATHS = {"gpu": STATE_PATH, "emc": EMC_STATE_PATH}
CLOCK_NAMES = {"gpu": "GPU", "emc": "EMC"}
RECORDS_KEY = {"gpu": "gpus", "emc": "emc"}   # where each clock's saved record(s) sit in its file
BOOT_ID = "/proc/sys/kernel/random/boot_id"
RESET_HINT = "delete it and reset the clock with sudo nvpmodel -m <mode> (or reboot)"
RESET_HINTS = {"gpu": RESET_HINT, "emc": "delete it and reboot (the memory clock override does not outlive a boot)"}


def boot_id():
    return sysfs.read_board(BOOT_ID)


def board_key(info):
    return info.board.key if info.board else (info.identity.get("model") or "unknown")


def _bad_shape(what, clock="gpu"):
    return UserError("{} is not a saved {} clock state ({}); {}".format(
        STATE_PATHS[clock], CLOCK_NAMES[clock], what, RESET_HINTS[clock]))


def _check_gpus(gpus, where):
    if not isinstance(gpus, list) or not gpus:
        raise _bad_shape("{} is not a non-empty list".format(where))
    for record in gpus:
        if not isinstance(record, dict):
            raise _bad_shape("an entry of {} is not an object".format(where))
        if not isinstance(record.get("devfreq"), str):
            raise _bad_shape("an entry of {} has no devfreq path".format(where))
        for key in ("min_freq", "max_freq"):
            value = record.get(key)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise _bad_shape("{} {} is not a positive whole number of Hz".format(where, key))
        if record["min_freq"] > record["max_freq"]:
            raise _bad_shape("{} min_freq is above max_freq".format(where))
        if record.get("governor") is not None and not isinstance(record["governor"], str):
            raise _bad_shape("{} governor is not a name".format(where))


def _check_emc(record):
    if not isinstance(record, dict):
        raise _bad_shape("emc is not an object", "emc")
    for key in ("rate", "lock"):
        if not isinstance(record.get(key), str):
            raise _bad_shape("emc has no {} path".format(key), "emc")
    rate = record.get("rate_hz")
    if rate is not None and (isinstance(rate, bool) or not isinstance(rate, int) or rate <= 0):
        raise _bad_shape("emc rate_hz is not a positive whole number of Hz", "emc")
    if record.get("locked") not in (0, 1) or isinstance(record.get("locked"), bool):
        raise _bad_shape("emc locked is not 0 or 1", "emc")


def parse(text, clock="gpu"):
    """JSON text -> validated state dict; UserError (one line) for anything else."""
    try:
        data = json.loads(text)
    except ValueError:
        raise _bad_shape("not valid JSON", clock)
    if not isinstance(data, dict):
        raise _bad_shape("not a JSON object", clock)
    if clock == "emc":
        _check_emc(data.get("emc"))
    else:
        _check_gpus(data.get("gpus"), "gpus")
        if data.get("run") is not None:
            if not isinstance(data["run"], dict):
                raise _bad_shape("run is not an object")
            _check_gpus(data["run"].get("gpus"), "run.gpus")
    for key in ("boot_id", "board"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise _bad_shape("{} is not a string".format(key), clock)
    return data


def read(clock="gpu"):
    """The saved state of ``clock``, or None when there is none."""
    real = sysfs.path(STATE_PATHS[clock])
    if not os.path.lexists(real):
        return None
    if not os.path.isfile(real):
        raise UserError("{} is not a file; {}".format(STATE_PATHS[clock], RESET_HINTS[clock]))
    text = sysfs.read_text(real)
    if text is None:
        raise UserError("cannot read {}: run with sudo".format(STATE_PATHS[clock]))
    return parse(text, clock)


def write(data, clock="gpu"):
    """Atomically and durably: the file is either the old one or the new one, also after a power cut."""
    folder = os.path.dirname(sysfs.path(STATE_PATHS[clock]))
    if not os.path.isdir(folder):
        os.makedirs(folder)
    write_json(sysfs.path(STATE_PATHS[clock]), data, durable=True)


def remove(clock="gpu"):
    try:
        os.unlink(sysfs.path(STATE_PATHS[clock]))
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            raise


def record(gpu, min_hz, max_hz, governor):
    return {"devfreq": sysfs.unprefix(gpu.freq_dir), "min_freq": int(min_hz), "max_freq": int(max_hz),
            "governor": governor}


def emc_record(rate, lock, rate_hz, locked):
    return {"rate": rate, "lock": lock, "rate_hz": rate_hz, "locked": locked}


def _now():
    return time.strftime("%Y-%m-%dT%H:%M:%S")


def new_state(info, records, persistent, clock="gpu"):
    """``records``: the GPU records (a list of record()) or the EMC one (emc_record())."""
    return {"version": 1, "boot_id": boot_id(), "board": board_key(info), "pid": os.getpid(),
            "persistent": bool(persistent), "saved_at": _now(), RECORDS_KEY[clock]: records}


def run_record(records, clock="gpu"):
    """A run pinning on top of a `clocks set` pin: what that run would put back itself."""
    return {"pid": os.getpid(), "saved_at": _now(), RECORDS_KEY[clock]: records}


def records_of(data, clock="gpu"):
    """The saved record(s) in a state (or in its ``run``)."""
    return data[RECORDS_KEY[clock]]


def belongs_here(data, info):
    """True when ``data`` was saved during this boot on this board (else the kernel has reset the clock
    since, or the file came from elsewhere)."""
    return (data.get("boot_id") in (None, boot_id())
            and data.get("board") in (None, board_key(info)))


def pid_alive(pid):
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except OSError as exc:
        return exc.errno == errno.EPERM
    return True


def owner(data):
    """Who holds the pin the file describes: ("clocks set", pid), ("running", pid) or ("gone", pid)."""
    run = data.get("run")
    if run is not None:
        return ("running" if pid_alive(run.get("pid")) else "gone"), run.get("pid")
    if data.get("persistent"):
        return "clocks set", data.get("pid")
    return ("running" if pid_alive(data.get("pid")) else "gone"), data.get("pid")
