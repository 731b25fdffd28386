"""GPU frequencies as users type them (whole MHz) and as devfreq holds them (Hz, a table of steps).

    parse_freq_list("824,1134") -> [824, 1134]
    snap_to_table(824, table_hz) -> 828750000 on a TX2
Frequency steps are chosen here only (the pin, `sweep`'s checks and `clocks show` agree by construction).
"""

from espnet_edge.errors import UserError

RANGE_SLACK_MHZ = 1.0   # users type whole MHz: 114 still means the 114.75 MHz bottom step


def mhz(hz):
    return hz / 1e6


def fmt_mhz(hz):
    return "{:g} MHz".format(round(mhz(hz), 3))


def parse_freq_list(text):
    """'824,1134' -> [824, 1134] (MHz, ints). UserError for empty items, non-numbers, <= 0, duplicates."""
    if text is None or not str(text).strip():
        raise UserError("empty frequency list: give MHz values like --freq 824,1134")
    values = []
    for item in str(text).split(","):
        item = item.strip()
        if not item:
            raise UserError("malformed frequency list {!r}: empty item; write MHz values separated by "
                            "commas, e.g. 824,1134".format(text))
        try:
            number = float(item)
        except ValueError:
            raise UserError("malformed frequency list {!r}: {!r} is not a number of MHz; "
                            "e.g. 824,1134".format(text, item))
        if number != number or number in (float("inf"), float("-inf")) or number != int(number):
            raise UserError("frequency {!r} in {!r} must be a whole number of MHz, e.g. 824".format(item, text))
        if number <= 0:
            raise UserError("frequency {!r} in {!r} must be positive (MHz)".format(item, text))
        if int(number) in values:
            raise UserError("frequency {} MHz appears twice in {!r}; list each once".format(int(number), text))
        values.append(int(number))
    return values


def snap_to_table(freq_mhz, table_hz):
    """Nearest table step (Hz) to ``freq_mhz``; UserError outside the table's range."""
    if not table_hz:
        raise UserError("the GPU devfreq available_frequencies table is empty; cannot choose a step")
    low, high = min(table_hz), max(table_hz)
    if freq_mhz < mhz(low) - RANGE_SLACK_MHZ or freq_mhz > mhz(high) + RANGE_SLACK_MHZ:
        raise UserError("{} MHz is outside this GPU's range {}..{}; choose a value in it "
                        "(espnet-edge clocks show lists the steps)".format(freq_mhz, fmt_mhz(low), fmt_mhz(high)))
    return min(table_hz, key=lambda hz: (abs(hz - freq_mhz * 1e6), hz))
