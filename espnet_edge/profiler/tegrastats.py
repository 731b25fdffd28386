"""Parse one tegrastats line (any Jetson generation, root or not) into a plain dict.

``parse_line`` never raises: what it does not understand goes to ``record["unknown"]``.
Formats seen in the wild (see ../shared/jetson/tegrastats/SOURCES.md):
  TX1 L4T24   ``cpu [0%,0%]@1734 EMC 0%@1600 AVP 1%@115 GR3D 0%@998 EDP limit 1734``
  L4T28/32    ``CPU [2%@345,off] EMC_FREQ 13%@40 GR3D_FREQ 0%@114 ... VDD_IN 2003/2658``
  non-root    ``EMC_FREQ 0% GR3D_FREQ 4%`` (no @MHz, no engines)
  Xavier/Orin ``GR3D_FREQ 0%@[305,1300]``, ``GR3D2_FREQ 0%@0``, ``VDD_IN 12479mW/12479mW``
  JetPack 7   ``cpu@51.968C/51.968C`` (cur/max), ``VDD_IN 4385mW/3787mW/4385mW`` (cur/avg/max)
"""

import re

_TIME_DATE = re.compile(r"^(\d\d)-(\d\d)-(\d{4})$")
_TIME_CLOCK = re.compile(r"^\d\d:\d\d:\d\d$")
_USED_TOTAL = re.compile(r"^(\d+)/(\d+)(MB|kB|KB|GB)$")
_LOAD_FREQ = re.compile(r"^(\d+(?:\.\d+)?)%(?:@(\[[\d,\s]*\]|\d+))?$")
_ENGINE_VALUE = re.compile(r"^(?:off|\d+|\d+%@\d+|\d+%@\[[\d,]*\]|\d+%)$")
_ENGINE_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
_RAIL_VALUE = re.compile(r"^(\d+)(?:mW)?/(\d+)(?:mW)?(?:/(\d+)(?:mW)?)?$")
_TEMP = re.compile(r"^([A-Za-z_][\w\-.]*)@(-?\d+(?:\.\d+)?)C(?:/(-?\d+(?:\.\d+)?)C)?$")
_CORE = re.compile(r"^(\d+(?:\.\d+)?)%(?:@(\d+))?$")
_LFB = re.compile(r"^\(?lfb$")
_NAME = re.compile(r"^[A-Za-z]\w*$")
_PCT = re.compile(r"^(\d+(?:\.\d+)?)%$")

NO_READING_C = -256.0  # tegrastats prints -256C for a sensor that is off

GPU_TOKENS = ("GR3D_FREQ", "GR3D", "GR3D2_FREQ")
EMC_TOKENS = ("EMC_FREQ", "EMC")


def empty_record():
    return {
        "time": None,
        "ram_used_mb": None, "ram_total_mb": None, "lfb": None,
        "swap_used_mb": None, "swap_total_mb": None, "swap_cached_mb": None,
        "iram_used_kb": None, "iram_total_kb": None,
        "cpu": None,
        "gpu_load_pct": None, "gpu_loads_pct": [], "gpu_freq_mhz": [],
        "emc_load_pct": None, "emc_freq_mhz": None,
        "engines": {}, "mts_fg_pct": None, "mts_bg_pct": None, "edp_limit_mhz": None,
        "temps_c": {}, "temps_max_c": {},
        "rails_mw": {},
        "unknown": [],
    }


def _num(text):
    value = float(text)
    return int(value) if value.is_integer() and "." not in text else value


def _to_mb(value, unit):
    value = int(value)
    if unit == "GB":
        return value * 1024
    if unit in ("kB", "KB"):
        return value / 1024.0
    return value


def _split_tokens(line):
    """Whitespace tokens, with each parenthesised group ``(lfb 3x4MB)`` kept as one token."""
    line = line.replace("(", " (").replace(")", ") ")
    raw = line.split()
    tokens = []
    i = 0
    while i < len(raw):
        tok = raw[i]
        if tok.startswith("(") and not tok.endswith(")"):
            j = i + 1
            while j < len(raw) and not raw[j - 1].endswith(")"):
                j += 1
            tokens.append(" ".join(raw[i:j]))
            i = j
            continue
        tokens.append(tok)
        i += 1
    return tokens


def _parse_used_total(text):
    match = _USED_TOTAL.match(text)
    if not match:
        return None
    unit = match.group(3)
    return _to_mb(match.group(1), unit), _to_mb(match.group(2), unit)


def _parse_cpu(body, shared_freq):
    """``[2%@345,off,5%@2035]`` (or ``[0%,0%]`` with a trailing ``@1734`` for all cores)."""
    cores = []
    for item in body.split(","):
        item = item.strip()
        if item == "off":
            cores.append(None)
            continue
        match = _CORE.match(item)
        if not match:
            return None
        freq = match.group(2)
        cores.append({"load_pct": _num(match.group(1)),
                      "freq_mhz": int(freq) if freq is not None else shared_freq})
    return cores


def _parse_load_freq(text):
    """``0%@114`` -> (0, [114]); ``0%@[305,0]`` -> (0, [305, 0]); ``4%`` -> (4, []); else None."""
    match = _LOAD_FREQ.match(text)
    if not match:
        return None
    load = _num(match.group(1))
    freq = match.group(2)
    if freq is None:
        return load, []
    if freq.startswith("["):
        return load, [int(f) for f in freq.strip("[]").split(",") if f.strip()]
    return load, [int(freq)]


def _parse_engine(text):
    if text == "off":
        return {"on": False, "load_pct": None, "freq_mhz": None}
    if text.isdigit():
        return {"on": True, "load_pct": None, "freq_mhz": int(text)}
    parsed = _parse_load_freq(text)
    if parsed is None:
        return None
    load, freqs = parsed
    return {"on": True, "load_pct": load, "freq_mhz": freqs[0] if len(freqs) == 1 else (freqs or None)}


def parse_time(date, clock):
    match = _TIME_DATE.match(date)
    if not match or not _TIME_CLOCK.match(clock):
        return None
    month, day, year = match.groups()
    return "{}-{}-{}T{}".format(year, month, day, clock)


def parse_line(line):
    """One tegrastats line -> record dict (see ``empty_record`` for the keys). Never raises."""
    record = empty_record()
    try:
        _parse_into(record, line)
    except Exception as exc:  # a parser bug must not kill a profiling run: keep the line
        record["unknown"].append("<parse error {}: {}>".format(type(exc).__name__, line.strip()))
    return record


def _parse_into(record, line):
    if not isinstance(line, str):
        line = line.decode("utf-8", "replace") if isinstance(line, bytes) else str(line)
    tokens = _split_tokens(line.strip())
    unknown = record["unknown"]
    gpu_cluster = 0
    i = 0
    if len(tokens) >= 2:
        stamp = parse_time(tokens[0], tokens[1])
        if stamp:
            record["time"] = stamp
            i = 2
    n = len(tokens)

    def nxt(k=1):
        return tokens[i + k] if i + k < n else None

    while i < n:
        tok = tokens[i]
        after = nxt()
        # RAM used/totalMB (lfb NxSMB)
        if tok == "RAM" and after and _parse_used_total(after):
            record["ram_used_mb"], record["ram_total_mb"] = _parse_used_total(after)
            i += 2
            if i < n and tokens[i].startswith("(lfb"):
                record["lfb"] = tokens[i].strip("()")[4:].strip()
                i += 1
            continue
        if tok == "SWAP" and after and _parse_used_total(after):
            record["swap_used_mb"], record["swap_total_mb"] = _parse_used_total(after)
            i += 2
            if i < n and tokens[i].startswith("(cached"):
                cached = re.match(r"^\(cached (\d+)(MB|kB|GB)\)$", tokens[i])
                if cached:
                    record["swap_cached_mb"] = _to_mb(cached.group(1), cached.group(2))
                    i += 1
            continue
        if tok == "IRAM" and after and _parse_used_total(after):
            match = _USED_TOTAL.match(after)
            record["iram_used_kb"], record["iram_total_kb"] = int(match.group(1)), int(match.group(2))
            i += 2
            if i < n and tokens[i].startswith("(lfb"):
                i += 1
            continue
        if tok in ("CPU", "cpu") and after and after.startswith("[") and "]" in after:
            body, _, tail = after[1:].partition("]")
            shared = int(tail[1:]) if tail.startswith("@") and tail[1:].isdigit() else None
            cores = _parse_cpu(body, shared)
            if cores is not None and (tail == "" or shared is not None):
                record["cpu"] = cores
                i += 2
                continue
        if tok in GPU_TOKENS and after and _parse_load_freq(after):
            load, freqs = _parse_load_freq(after)
            if tok == "GR3D2_FREQ":
                while len(record["gpu_freq_mhz"]) < gpu_cluster:  # GR3D_FREQ had no @MHz
                    record["gpu_freq_mhz"].append(None)
            else:
                record["gpu_load_pct"] = load
            record["gpu_loads_pct"].append(load)
            record["gpu_freq_mhz"].extend(freqs)
            gpu_cluster += 1
            i += 2
            continue
        if tok in EMC_TOKENS and after and _parse_load_freq(after):
            load, freqs = _parse_load_freq(after)
            record["emc_load_pct"] = load
            record["emc_freq_mhz"] = freqs[0] if freqs else None
            i += 2
            continue
        if tok == "MTS" and i + 4 < n and tokens[i + 1] == "fg" and tokens[i + 3] == "bg":
            fg, bg = _PCT.match(tokens[i + 2]), _PCT.match(tokens[i + 4])
            if fg and bg:
                record["mts_fg_pct"], record["mts_bg_pct"] = _num(fg.group(1)), _num(bg.group(1))
                i += 5
                continue
        if tok == "EDP" and nxt() == "limit" and nxt(2) and nxt(2).isdigit():
            record["edp_limit_mhz"] = int(nxt(2))
            i += 3
            continue
        temp = _TEMP.match(tok)
        if temp:
            name, cur, peak = temp.groups()
            record["temps_c"][name] = _temperature(cur)
            if peak is not None:
                record["temps_max_c"][name] = _temperature(peak)
            i += 1
            continue
        if after and _NAME.match(tok):
            rail = _RAIL_VALUE.match(after)
            if rail:
                values = {"current": int(rail.group(1)), "average": int(rail.group(2))}
                if rail.group(3) is not None:
                    values["max"] = int(rail.group(3))
                record["rails_mw"][tok] = values
                i += 2
                continue
            if _ENGINE_NAME.match(tok) and _ENGINE_VALUE.match(after):
                engine = _parse_engine(after)
                if engine is not None:
                    record["engines"][tok] = engine
                    i += 2
                    continue
        unknown.append(tok)
        i += 1


def _temperature(text):
    value = float(text)
    return None if value <= NO_READING_C else value


def is_sample(record):
    """True when the line carried real tegrastats content (RAM or CPU or rails), not garbage."""
    return bool(record.get("ram_total_mb") is not None or record.get("cpu") is not None
                or record.get("rails_mw"))


def parse_lines(lines):
    """Parse an iterable of lines, skipping blank ones."""
    return [parse_line(line) for line in lines if line.strip()]


def parse_file(path):
    with open(path, "r", errors="replace") as handle:
        return parse_lines(handle)


# --- which rail is what (../shared/jetson/sysfs.md section 6) ------------------------------------

# Rails that are the whole board's input, in order of preference.
_INPUT_RAILS = ("VDD_IN", "POM_5V_IN")
# AGX Orin: VIN_SYS_5V0 supplies VDDQ_VDD2_1V8AO, so the latter is not added (energymon default).
_AGX_ORIN_SUM = ("VDD_GPU_SOC", "VDD_CPU_CV", "VIN_SYS_5V0")
# AGX Xavier has no parent rail: the six module rails are summed.
_AGX_XAVIER_SUM = ("GPU", "CPU", "SOC", "CV", "VDDRQ", "SYS5V")
# Thor (L4T R38): no total rail is documented; the three module rails are summed.
_THOR_SUM = ("VDD_GPU", "VDD_CPU_SOC_MSS", "VIN_SYS_5V0")
GPU_RAILS = ("VDD_GPU", "VDD_SYS_GPU", "POM_5V_GPU", "GPU", "VDD_GPU_SOC", "VDD_CPU_GPU_CV")


def total_power_rails(rail_names):
    """-> (rails to add for the board's total power, how) or ([], reason) when no rule applies."""
    names = set(rail_names)
    for name in _INPUT_RAILS:
        if name in names:
            return [name], "{} (board input rail)".format(name)
    for group, how in ((_AGX_ORIN_SUM, "AGX Orin: sum of VDD_GPU_SOC+VDD_CPU_CV+VIN_SYS_5V0"),
                       (_AGX_XAVIER_SUM, "AGX Xavier: sum of the six module rails"),
                       (_THOR_SUM, "Thor: sum of VDD_GPU+VDD_CPU_SOC_MSS+VIN_SYS_5V0")):
        if all(name in names for name in group):
            return list(group), how
    if not names:
        return [], "no power rails in the samples"
    rails = sorted(name for name in names if name != "NC")
    return rails, "unknown board: sum of all rails ({})".format("+".join(rails))


def gpu_power_rail(rail_names):
    for name in GPU_RAILS:
        if name in rail_names:
            return name
    return None


def cpu_load_pct(record):
    """Mean load over online cores, or None."""
    cores = [c["load_pct"] for c in (record.get("cpu") or []) if c is not None]
    return sum(cores) / float(len(cores)) if cores else None
