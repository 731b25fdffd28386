"""Thermal state of a run (zone temperatures and trip points at start and end), throttling found in it,
and the board settings recorded beside every run (nvpmodel mode, EMC clock, fan)."""

import glob
import os

from espnet_edge.jetson import boards, emc, nvpmodel, sysfs

TRIP_MARGIN_C = 1.0   # a zone within this of its lowest trip point counts as at the trip point


def _millideg(text):
    if text is None or not text.lstrip("-").isdigit() or len(text) > 9:
        return None
    return int(text) / 1000.0


def read_zones():
    """{zone type: {'temp_c', 'trip_c' (lowest passive/hot trip point, or None)}} from the thermal zones."""
    zones = {}
    for folder in sorted(glob.glob(os.path.join(sysfs.path(boards.THERMAL_ZONES), "thermal_zone*"))):
        name = sysfs.read_text(os.path.join(folder, "type"))
        if not name:
            continue
        trips = []
        for trip_file in glob.glob(os.path.join(folder, "trip_point_*_temp")):
            kind = sysfs.read_text(trip_file.replace("_temp", "_type")) or ""
            value = _millideg(sysfs.read_text(trip_file))
            if value is not None and value > 0 and kind in ("passive", "hot", "critical", ""):
                trips.append(value)
        zones[name] = {"temp_c": _millideg(sysfs.read_text(os.path.join(folder, "temp"))),
                       "trip_c": min(trips) if trips else None}
    return zones


def zones_at_trip(zones):
    return sorted(name for name, zone in zones.items()
                  if zone["temp_c"] is not None and zone["trip_c"] is not None
                  and zone["temp_c"] >= zone["trip_c"] - TRIP_MARGIN_C)


def throttle_findings(start_zones, end_zones, pinned_mhz, clock_samples):
    """Reasons to believe the run was throttled: the GPU clock read back below the pin during the
    measured phase, or a thermal zone at its trip point at the start or the end."""
    findings = []
    if pinned_mhz:
        below = [mhz for mhz in clock_samples if mhz is not None and 0 < mhz < pinned_mhz - 0.5]
        if below:
            findings.append("GPU clock read back below the pinned {:g} MHz in {} of {} samples (lowest {:g} MHz)"
                            .format(pinned_mhz, len(below), len([m for m in clock_samples if m]), min(below)))
    for when, zones in (("start", start_zones), ("end", end_zones)):
        hot = zones_at_trip(zones or {})
        if hot:
            findings.append("thermal zone(s) {} at the trip point at the {}".format(", ".join(hot), when))
    return findings


def read_fan():
    """{'target_pwm', 'cur_pwm'} from the pwm-fan node, or None when there is no fan node."""
    values = {}
    for path in boards.value_of(boards.FAN_FILES):
        text = sysfs.read_board(path)
        if text is not None and text.isdigit():
            values[os.path.basename(path)] = int(text)
    return values or None


def read_emc_hz():
    """The EMC clock (Hz) from the SoC's debugfs node (root only), or None."""
    return emc.read_rate_hz()


def board_settings():
    """nvpmodel mode, EMC clock and fan state, recorded in every run."""
    mode = nvpmodel.current_mode()
    emc_hz = read_emc_hz()
    return {"nvpmodel": mode, "emc_mhz": emc_hz / 1e6 if emc_hz else None, "fan": read_fan()}
