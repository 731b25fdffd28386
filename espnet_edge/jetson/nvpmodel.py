"""nvpmodel awareness: the modes in /etc/nvpmodel.conf, the active one from /var/lib/nvpmodel/status
("pmode:0002"), and the GPU MAX_FREQ cap that mode puts on the devfreq max_freq."""

import re

from espnet_edge.jetson import boards, sysfs

CONF = "/etc/nvpmodel.conf"
STATUS = "/var/lib/nvpmodel/status"
NO_CAP = 2147483647


def _cap(value):
    try:
        hz = int(value)
    except ValueError:
        return None
    return None if hz <= 0 or hz >= NO_CAP else hz


def parse_conf(text):
    """-> {'default': id or None, 'modes': {id: {'name', 'gpu_max_hz' (None = uncapped), 'gpu_min_hz'}}}."""
    modes = {}
    default = None
    current = None
    for raw in (text or "").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        header = re.match(r"<\s*POWER_MODEL\s+ID=(\d+)\s+NAME=(\S+?)\s*>", line)
        if header:
            current = {"name": header.group(2), "gpu_max_hz": None, "gpu_min_hz": None}
            modes[int(header.group(1))] = current
            continue
        config = re.match(r"<\s*PM_CONFIG\s+DEFAULT=(\d+)\s*>", line)
        if config:
            default = int(config.group(1))
            current = None
            continue
        if line.startswith("<"):
            current = None  # a PARAM block
            continue
        if current is None:
            continue
        parts = line.split()
        if len(parts) == 3 and parts[0] == "GPU" and parts[1] in ("MAX_FREQ", "MIN_FREQ"):
            current["gpu_max_hz" if parts[1] == "MAX_FREQ" else "gpu_min_hz"] = _cap(parts[2])
        elif len(parts) == 2 and "devfreq" in parts[0] and parts[0].endswith(("/max_freq", "/min_freq")):
            # old TX2 format: the devfreq file path itself, then the value
            key = "gpu_max_hz" if parts[0].endswith("/max_freq") else "gpu_min_hz"
            current[key] = _cap(parts[1])
    return {"default": default, "modes": modes}


def parse_status(text):
    match = re.search(r"pmode:\s*0*(\d+)", text or "")
    return int(match.group(1)) if match else None


def effective_cap_hz(cap_hz, table_hz, kernel=None):
    """nvpmodel's GPU cap as the kernel applies it.

    4.9 kernels (L4T <= 32) and unknown ones: rounded up to the next table entry (TX2: 1120 -> 1134.75 MHz;
    nvpmodel -q --verbose REAL_VAL 1134750000 for CONF_VAL 1120000000, MIDS-scaling-up/v2). 5.10+ kernels
    (L4T >= 34): the cap is a PM-QoS max request; devfreq clamps a target above max_freq with
    DEVFREQ_FLAG_LEAST_UPPER_BOUND (Linux drivers/devfreq/devfreq.c update_devfreq), i.e. the highest table
    entry not above the cap (inferred from that flag; no Jetson capture confirms it)."""
    if cap_hz is None:
        return None
    if kernel == boards.KERNEL_PM_QOS:
        below = [f for f in table_hz or () if f <= cap_hz]
        if below:
            return max(below)
        return min(table_hz) if table_hz else cap_hz
    above = [f for f in table_hz or () if f >= cap_hz]
    if above:
        return min(above)
    return max(table_hz) if table_hz else cap_hz


def modes_reaching(hz, table_hz, kernel=None):
    """[(id, name)] of the conf's modes whose GPU cap allows ``hz`` (uncapped modes first)."""
    conf = parse_conf(sysfs.read_board(CONF))
    found = []
    for mode_id, mode in sorted(conf["modes"].items()):
        cap = effective_cap_hz(mode["gpu_max_hz"], table_hz, kernel)
        if cap is None or cap >= hz:
            found.append((cap is not None, mode_id, mode["name"]))
    return [(mode_id, name) for _capped, mode_id, name in sorted(found)]


def current_mode():
    """-> {'id', 'name', 'gpu_max_hz', 'source': 'status'|'default'} or None when nvpmodel is not set up."""
    conf_text = sysfs.read_board(CONF)
    status_id = parse_status(sysfs.read_board(STATUS))
    if conf_text is None and status_id is None:
        return None
    conf = parse_conf(conf_text)
    mode_id, source = status_id, "status"
    if mode_id is None:
        mode_id, source = conf["default"], "default"
    if mode_id is None:
        return None
    mode = conf["modes"].get(mode_id, {})
    return {"id": mode_id, "name": mode.get("name"), "gpu_max_hz": mode.get("gpu_max_hz"),
            "gpu_min_hz": mode.get("gpu_min_hz"), "source": source, "known": bool(mode)}
