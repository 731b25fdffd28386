"""Text and JSON from files and children we did not write: read as bytes, decoded on purpose.

UTF-8 first (a byte-order mark is dropped), UTF-16 where a byte-order mark says so, else Latin-1 with
a warning naming the file (every byte is a character there, so nothing is lost and the user learns
which encoding was assumed). Never the locale's encoding: Python 3.6 under LANG=C would make every
non-ASCII byte an error. JSON that does not parse or holds the wrong kind of value is one UserError.
"""

import codecs
import json
import logging

from espnet_edge.errors import UserError

log = logging.getLogger(__name__)


def decode(data, what="output"):
    """bytes -> (text, encoding used); ``what`` names the source in the Latin-1 warning."""
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError:
            pass
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as exc:
        log.warning("%s is not UTF-8 (byte 0x%02x at offset %d); read it as Latin-1", what,
                    data[exc.start], exc.start)
        return data.decode("latin-1"), "latin-1"


def read_text(path, what=None):
    """The text of ``path`` (decoded as ``decode`` says); UserError when it cannot be read."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except (IOError, OSError) as exc:
        raise UserError("cannot read {}: {}".format(path, exc.strerror or exc))
    return decode(data, what or path)[0]


def read_json(path, kind=dict, what=None):
    """The JSON document in ``path``, which must be a ``kind`` (dict by default); one UserError naming
    the file for unreadable bytes, bad JSON or another kind of value."""
    text = read_text(path, what)
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise UserError("{} is not valid JSON ({}); it was cut short or edited by hand: write it again".format(
            what or path, exc))
    if kind is not None and not isinstance(data, kind):
        raise UserError("{} holds a JSON {} where a JSON {} belongs; write it again".format(
            what or path, _json_kind(data), _json_kind(kind())))
    return data


def _json_kind(value):
    for kind, name in ((dict, "object"), (list, "array"), (str, "string"), (bool, "true/false"),
                       ((int, float), "number")):
        if isinstance(value, kind):
            return name
    return "null"
