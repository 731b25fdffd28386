"""What `espnet-edge clocks` shows and does: the board's clock state (board, release, nvpmodel mode, every GPU's
devfreq node and table, the pins in force), a persistent GPU pin and putting back every saved clock."""

from typing import List, Optional

from espnet_edge.errors import UserError
from espnet_edge.jetson import clock_state, clocks, detect, emc, nvpmodel
from espnet_edge.jetson.sysfs_writer import LOGGER
from espnet_edge.utils.records import Record, record_fields


class PinResult(Record, record_fields("PinResult", [
        ("requested_mhz", int), ("applied_mhz", float), ("cur_mhz", Optional[float]), ("dry_run", bool),
        ("state_file", str), ("kept_earlier_saved_state", Optional[bool])])):
    """`clocks set MHZ`: the step asked for and the table step pinned, the clock read back, where the
    original state was saved, and whether an earlier `set`'s saved state was kept."""
    __slots__ = ()


class RestoreResult(Record, record_fields("RestoreResult", [
        ("restored", List[dict]), ("emc_restored", Optional[dict]), ("dry_run", bool)])):
    """`clocks restore`: the GPU states put back (one per GPU; empty when only the memory clock was saved)
    and the memory clock state put back (or None)."""
    __slots__ = ()


def not_a_jetson(command):
    """The not-a-Jetson line in the words of ``command`` ("clocks", "clocks set")."""
    return UserError(clocks.NOT_JETSON.replace("--freq needs", command + " needs"))


def clock_status():
    """The board's clock state as `clocks show` reports it (dict; `clocks show --json` prints it)."""
    info = detect.detect()
    if not info.is_jetson:
        gated = detect.find_gated_gpu()
        if gated is not None:
            raise UserError("found the Jetson GPU {} but its devfreq node is not registered (rail-gated since "
                            "boot); `sudo espnet-edge clocks set MHZ` powers it up once, or run any CUDA program "
                            "first".format(gated.describe()))
        raise not_a_jetson("clocks")
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


def set_clock(mhz, dry_run=False, log=LOGGER):
    """Pin the GPU at the table step nearest ``mhz`` until `clocks restore` -> PinResult."""
    try:
        pin = clocks.set_persistent(mhz, dry_run=dry_run, log=log)
    except UserError as exc:
        if str(exc) == clocks.NOT_JETSON:
            raise not_a_jetson("clocks set")
        raise
    return PinResult(requested_mhz=pin.requested_mhz, applied_mhz=pin.applied_mhz, cur_mhz=pin.cur_mhz,
                     dry_run=dry_run, state_file=clocks.STATE_PATH, kept_earlier_saved_state=pin.kept_earlier_state)


def restore_clocks(dry_run=False, log=LOGGER):
    """Put back the memory clock and the GPU clock a pin saved (`clocks set`, or a run that died) ->
    RestoreResult; one line when nothing was saved."""
    emc_saved = emc.restore_saved(dry_run=dry_run, log=log)
    saved = None
    if emc_saved is None or clocks.read_saved_state() is not None:
        saved = clocks.restore_persistent(dry_run=dry_run, log=log)
    return RestoreResult(restored=saved["gpus"] if saved else [], emc_restored=emc_saved["emc"] if emc_saved else None,
                         dry_run=dry_run)
