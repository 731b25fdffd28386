"""Parse one tegrastats line (any Jetson generation, root or not) into a ``Sample`` (profiler/sample.py).

``parse_line`` never raises: what it does not understand goes to ``Sample.unknown``.
Formats seen in the wild (see ../shared/jetson/tegrastats/SOURCES.md):
  TX1 L4T24   ``cpu [0%,0%]@1734 EMC 0%@1600 AVP 1%@115 GR3D 0%@998 EDP limit 1734``
  L4T28/32    ``CPU [2%@345,off] EMC_FREQ 13%@40 GR3D_FREQ 0%@114 ... VDD_IN 2003/2658``
  non-root    ``EMC_FREQ 0% GR3D_FREQ 4%`` (no @MHz, no engines)
  Xavier/Orin ``GR3D_FREQ 0%@[305,1300]``, ``GR3D2_FREQ 0%@0``, ``VDD_IN 12479mW/12479mW``
  JetPack 7   ``cpu@51.968C/51.968C`` (cur/max), ``VDD_IN 4385mW/3787mW/4385mW`` (cur/avg/max)
"""

import re
import sys

from espnet_edge.errors import UserError
from espnet_edge.jetson import boards
from espnet_edge.profiler.sample import Sample, empty_fields
from espnet_edge.utils.pathchecks import file_problem

# ASCII digits only and bounded lengths: superscripts, other scripts' digits, thousands of digits and
# overflowing values never match, so they stay in ``unknown`` and never become inf/NaN.
_INT = r"[0-9]{1,9}"
_DEC = r"-?[0-9]{1,6}(?:\.[0-9]{1,6})?"
_PCT_NUM = r"[0-9]{1,6}(?:\.[0-9]{1,6})?"
_TIME_DATE = re.compile(r"^([0-9]{2})-([0-9]{2})-([0-9]{4})$")
_TIME_CLOCK = re.compile(r"^[0-9]{2}:[0-9]{2}:[0-9]{2}$")
_USED_TOTAL = re.compile(r"^(" + _INT + r")/(" + _INT + r")(MB|kB|KB|GB)$")
# load%@MHz, load%@[a,b,off], load%, or clock only: @MHz, @[a,b,c] (Thor, JetPack 7)
_LOAD_FREQ = re.compile(r"^(?:(" + _PCT_NUM + r")%)?(?:@(\[[0-9a-z,\s]{0,200}\]|" + _INT + r"))?$")
_ENGINE_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
_RAIL_VALUE = re.compile(r"^(" + _INT + r")(?:mW)?/(" + _INT + r")(?:mW)?(?:/(" + _INT + r")(?:mW)?)?$")
_TEMP = re.compile(r"^([A-Za-z_][\w\-.]*)@(" + _DEC + r")C(?:/(" + _DEC + r")C)?$")
_CORE = re.compile(r"^(" + _PCT_NUM + r")%(?:@(" + _INT + r"))?$")
_NAME = re.compile(r"^[A-Za-z]\w*$")
_PCT = re.compile(r"^(" + _PCT_NUM + r")%$")

NO_READING_C = -256.0  # tegrastats prints -256C for a sensor that is off

GPU_TOKENS = ("GR3D_FREQ", "GR3D", "GR3D2_FREQ")
EMC_TOKENS = ("EMC_FREQ", "EMC")


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
    """``0%@114`` -> (0, [114]); ``0%@[305,off]`` -> (0, [305, None]); ``4%`` -> (4, []);
    clock only ``@1691`` / ``@[1574,1574]`` -> (None, [...]); anything else -> None."""
    match = _LOAD_FREQ.match(text)
    if not match or (match.group(1) is None and match.group(2) is None):
        return None
    load = _num(match.group(1)) if match.group(1) is not None else None
    freq = match.group(2)
    if freq is None:
        return load, []
    if not freq.startswith("["):
        return load, [int(freq)]
    freqs = []
    for item in freq.strip("[]").split(","):
        item = item.strip()
        if item == "off":
            freqs.append(None)
        elif re.match("^" + _INT + "$", item):
            freqs.append(int(item))
        elif item:
            return None
    return load, freqs


def _parse_engine(text):
    if text == "off":
        return {"on": False, "load_pct": None, "freq_mhz": None}
    if re.match("^" + _INT + "$", text):
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
    """One tegrastats line -> Sample. Never raises."""
    fields = empty_fields()
    try:
        _parse_into(fields, line)
    except Exception as exc:  # a parser bug must not kill a profiling run: keep the line
        fields["unknown"].append("<parse error {}: {}>".format(type(exc).__name__, str(line).strip()[:200]))
    return Sample(**with_total(fields))


def with_total(fields):
    """Set ``total_mw`` (board input power of these readings), ``total_rails`` and ``total_how`` in the
    sample fields from the rail rule in jetson/boards.py (input rail where the board has one, else the
    documented sum)."""
    rails, how, _source = boards.total_power_rule(fields["rails_mw"])
    fields.update(total_rails=rails, total_how=how, total_mw=rails_sum(fields["rails_mw"], rails))
    return fields


def rails_sum(rails_mw, rails):
    """Sum of the rails' current readings (mW) in ``rails_mw`` (a sample's); None if there are none or
    one is missing."""
    if not rails:
        return None
    readings = rails_mw or {}
    values = [(readings.get(name) or {}).get("current") for name in rails]
    if any(v is None for v in values):
        return None
    return sum(values)


def hottest(record):
    """(sensor, degC) of the hottest real sensor in the line; constant sensors (PMIC) and off sensors are
    skipped. (None, None) when there is none."""
    constant = boards.value_of(boards.CONSTANT_SENSORS)
    temps = [(value, name) for name, value in record.temps_c.items()
             if value is not None and name not in constant]
    if not temps:
        return None, None
    value, name = max(temps)
    return name, value


def _after(tokens, i, k=1):
    return tokens[i + k] if i + k < len(tokens) else None


def _memory(record, tokens, i, _state):
    """RAM used/totalMB (lfb NxSMB), SWAP used/totalMB (cached NMB), IRAM used/totalkB (lfb NkB)."""
    tok, after = tokens[i], _after(tokens, i)
    if tok not in ("RAM", "SWAP", "IRAM") or not after or not _parse_used_total(after):
        return None
    n = len(tokens)
    if tok == "RAM":
        record["ram_used_mb"], record["ram_total_mb"] = _parse_used_total(after)
        i += 2
        if i < n and tokens[i].startswith("(lfb"):
            record["lfb"] = tokens[i].strip("()")[4:].strip()
            i += 1
    elif tok == "SWAP":
        record["swap_used_mb"], record["swap_total_mb"] = _parse_used_total(after)
        i += 2
        if i < n and tokens[i].startswith("(cached"):
            cached = re.match(r"^\(cached (" + _INT + r")(MB|kB|GB)\)$", tokens[i])
            if cached:
                record["swap_cached_mb"] = _to_mb(cached.group(1), cached.group(2))
                i += 1
    else:
        match = _USED_TOTAL.match(after)
        record["iram_used_kb"], record["iram_total_kb"] = int(match.group(1)), int(match.group(2))
        i += 2
        if i < n and tokens[i].startswith("(lfb"):
            i += 1
    return i


def _cpu_field(record, tokens, i, _state):
    """CPU [load%@MHz,...] (or [...]@MHz shared by the cores)."""
    tok, after = tokens[i], _after(tokens, i)
    if tok in ("CPU", "cpu") and after and after.startswith("[") and "]" in after:
        body, _, tail = after[1:].partition("]")
        shared = int(tail[1:]) if tail.startswith("@") and re.match("^" + _INT + "$", tail[1:]) else None
        cores = _parse_cpu(body, shared)
        if cores is not None and (tail == "" or shared is not None):
            record["cpu"] = cores
            return i + 2
    return None


def _gpu_field(record, tokens, i, state):
    """GR3D_FREQ load%@MHz (one per GPU cluster; GR3D2_FREQ the second's)."""
    tok, after = tokens[i], _after(tokens, i)
    if tok not in GPU_TOKENS or not after or not _parse_load_freq(after):
        return None
    load, freqs = _parse_load_freq(after)
    if tok == "GR3D2_FREQ":
        while len(record["gpu_freq_mhz"]) < state["gpu_clusters"]:  # GR3D_FREQ had no @MHz
            record["gpu_freq_mhz"].append(None)
    elif load is not None or record["gpu_load_pct"] is None:
        record["gpu_load_pct"] = load
    record["gpu_loads_pct"].append(load)
    record["gpu_freq_mhz"].extend(freqs)
    state["gpu_clusters"] += 1
    return i + 2


def _emc_field(record, tokens, i, _state):
    """EMC_FREQ load%@MHz."""
    tok, after = tokens[i], _after(tokens, i)
    if tok in EMC_TOKENS and after and _parse_load_freq(after):
        load, freqs = _parse_load_freq(after)
        record["emc_load_pct"] = load
        record["emc_freq_mhz"] = freqs[0] if freqs else None
        return i + 2
    return None


def _mts_edp(record, tokens, i, _state):
    """MTS fg N% bg N%; EDP limit MHz."""
    tok = tokens[i]
    if tok == "MTS" and i + 4 < len(tokens) and tokens[i + 1] == "fg" and tokens[i + 3] == "bg":
        fg, bg = _PCT.match(tokens[i + 2]), _PCT.match(tokens[i + 4])
        if fg and bg:
            record["mts_fg_pct"], record["mts_bg_pct"] = _num(fg.group(1)), _num(bg.group(1))
            return i + 5
    limit = _after(tokens, i, 2)
    if tok == "EDP" and _after(tokens, i) == "limit" and limit and re.match("^" + _INT + "$", limit):
        record["edp_limit_mhz"] = int(limit)
        return i + 3
    return None


def _temperature_field(record, tokens, i, _state):
    """name@C (or name@C/maxC)."""
    temp = _TEMP.match(tokens[i])
    if not temp:
        return None
    name, cur, peak = temp.groups()
    record["temps_c"][name] = _temperature(cur)
    if peak is not None:
        record["temps_max_c"][name] = _temperature(peak)
    return i + 1


def _rail_or_engine(record, tokens, i, _state):
    """RAIL current/averagemW[/maxmW]; an engine (NVENC, APE, ...) with its state or clock."""
    tok, after = tokens[i], _after(tokens, i)
    if not after or not _NAME.match(tok):
        return None
    rail = _RAIL_VALUE.match(after)
    if rail:
        values = {"current": int(rail.group(1)), "average": int(rail.group(2))}
        if rail.group(3) is not None:
            values["max"] = int(rail.group(3))
        record["rails_mw"][tok] = values
        return i + 2
    if _ENGINE_NAME.match(tok):
        engine = _parse_engine(after)
        if engine is not None:
            record["engines"][tok] = engine
            return i + 2
    return None


# tried in this order on each token: the first that takes it says where the next field starts
_FIELDS = (_memory, _cpu_field, _gpu_field, _emc_field, _mts_edp, _temperature_field, _rail_or_engine)


def _parse_into(record, line):
    """Fill ``record`` (sample fields, ``empty_fields()``) from ``line``; a token no field takes goes to
    ``unknown``."""
    if not isinstance(line, str):
        line = line.decode("utf-8", "replace") if isinstance(line, bytes) else str(line)
    tokens = _split_tokens(line.strip())
    state = {"gpu_clusters": 0}
    i = 0
    if len(tokens) >= 2:
        stamp = parse_time(tokens[0], tokens[1])
        if stamp:
            record["time"] = stamp
            i = 2
    while i < len(tokens):
        for field in _FIELDS:
            taken = field(record, tokens, i, state)
            if taken is not None:
                i = taken
                break
        else:
            record["unknown"].append(tokens[i])
            i += 1


def _temperature(text):
    value = float(text)
    return None if value <= NO_READING_C else value


def is_sample(record):
    """True when the line carried real tegrastats content (RAM or CPU or rails), not garbage."""
    return bool(record.ram_total_mb is not None or record.cpu is not None or record.rails_mw)


def parse_lines(lines):
    """Parse an iterable of lines, skipping blank ones."""
    return [parse_line(line) for line in lines if line.strip()]


def parse_file(path):
    with open(path, "r", errors="replace") as handle:
        return parse_lines(handle)


def _log_lines(path):
    if path == "-":
        return sys.stdin.buffer.read().decode("utf-8", "replace").splitlines()
    problem = file_problem(path, "log", allow_empty=True)
    if problem:
        raise UserError("cannot read tegrastats log {}: it {}".format(path, problem))
    try:
        with open(path, "rb") as handle:
            return handle.read().decode("utf-8", "replace").splitlines()   # a garbled byte is one token lost
    except (IOError, OSError) as exc:
        raise UserError("cannot read {}: {}".format(path, exc.strerror or exc))


def read_log(path):
    """A tegrastats log (``path``; '-' reads stdin) -> one Sample per line that is not blank. One line
    when it cannot be read, holds no lines, or holds no tegrastats line."""
    lines = [line for line in _log_lines(path) if line.strip()]
    if not lines:
        raise UserError("{} holds no lines; give a file written by `tegrastats --logfile`".format(path))
    records = [parse_line(line) for line in lines]
    if not any(is_sample(r) for r in records):
        raise UserError("{} holds no tegrastats lines (no RAM/CPU/rail fields in any of {} lines)".format(
            path, len(lines)))
    return records


# --- which rail is what: the rule lives in jetson/boards.py (TOTAL_POWER_RULES, GPU_RAILS) -----------

def total_power_rails(rail_names):
    """-> (rails to add for the board's input power, how) or ([], reason) when no rule applies."""
    rails, how, _source = boards.total_power_rule(rail_names)
    return rails, how


def gpu_power_rail(rail_names):
    return boards.gpu_power_rail(rail_names)


def cpu_load_pct(record):
    """Mean load over online cores, or None."""
    cores = [c["load_pct"] for c in (record.cpu or []) if c is not None]
    return sum(cores) / float(len(cores)) if cores else None
