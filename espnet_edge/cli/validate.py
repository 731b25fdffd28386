"""Option checks shared by every subcommand, run before any work starts.

The ``type=`` functions make argparse reject a bad value on one line that names the flag the user
typed ("argument --duration: must be a finite number > 0, got 'nan'"); the path checks raise UserError
naming the flag they are given.
"""

import argparse
import math

from espnet_edge.errors import UserError


def _number(text, kind):
    try:
        value = kind(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError("{!r} is not a{} number".format(
            text, " whole" if kind is int else ""))
    if kind is float and not math.isfinite(value):
        raise argparse.ArgumentTypeError("must be a finite number, got {!r}".format(text))
    return value


def positive_int(text):
    value = _number(text, int)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1, got {!r}".format(text))
    return value


def non_negative_int(text):
    value = _number(text, int)
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more, got {!r}".format(text))
    return value


def positive_float(text):
    value = _number(text, float)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be a finite number > 0, got {!r}".format(text))
    return value


def non_negative_float(text):
    value = _number(text, float)
    if value < 0:
        raise argparse.ArgumentTypeError("must be a finite number >= 0, got {!r}".format(text))
    return value


def fraction(text):
    value = _number(text, float)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError("must be between 0 and 1, got {!r}".format(text))
    return value


def size_text(text):
    """--size WxH: checked here, kept as text (the runners parse it with utils.parsing.parse_size)."""
    from espnet_edge.utils.parsing import parse_size

    try:
        parse_size(text)
    except UserError as exc:
        raise argparse.ArgumentTypeError(str(exc))
    return text


def mhz_list(text):
    """--freq/--freqs MHZ[,MHZ...] -> [MHz, ...] (whole, positive, each once; jetson.clocks.parse_freq_list)."""
    from espnet_edge.jetson.clocks import parse_freq_list

    try:
        return parse_freq_list(text)
    except UserError as exc:
        raise argparse.ArgumentTypeError(str(exc))


def mhz(text):
    """One frequency in MHz (--freq of profile, --emc, `clocks set`), checked as mhz_list checks each."""
    if "," in str(text):
        raise argparse.ArgumentTypeError("give one frequency in MHz, e.g. 828, got {!r}".format(text))
    try:
        return mhz_list(text)[0]
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError("{!r} is not a whole number of MHz above 0, e.g. 828".format(text))


def output_file(path, flag):
    """``path`` (given as ``flag``) can be written as a file: not a folder, parent writable."""
    if path is None:
        return None
    from espnet_edge.utils.atomic import check_output_file

    return check_output_file(path, flag)


def output_dir(path, flag):
    """``path`` (given as ``flag``) is, or can be created as, a writable folder; nothing is created here."""
    if path is None:
        return None
    from espnet_edge.utils.atomic import check_output_dir

    return check_output_dir(path, flag)


def input_file(path, flag, what="file"):
    """An existing, readable, non-empty regular file (a folder, device, fifo or symlink loop is named
    as what it is, never as missing)."""
    if path is None:
        return None
    from espnet_edge.utils.pathchecks import file_problem

    problem = file_problem(path, what)
    if problem:
        raise UserError("{} {} {}".format(flag, path, problem))
    return path


def image_folder(path, flag):
    """A folder (or file) holding at least one image; -> the image list."""
    from espnet_edge.images import list_images

    if path is None:
        return None
    try:
        return list_images(path)
    except UserError as exc:
        raise UserError("{} {}".format(flag, exc))


def outputs_apart(outputs, inputs):
    """No output of a command replaces one of its inputs (utils/pathchecks.outputs_apart): ``outputs``
    (flag, path) or (flag, folder, name pattern), ``inputs`` (flag, path); before any work."""
    from espnet_edge.utils.pathchecks import outputs_apart as check

    check(outputs, inputs)
