"""Typed records (Polygraphy's typed results): a NamedTuple whose fields carry their types, written as JSON
by ``to_dict`` and read back by ``from_dict``, which checks every value against its field's type.

    class Phase(Record, record_fields("Phase", [("start", Optional[float]), ("end", Optional[float])])):
        __slots__ = ()

Field types: ``float`` (an int is accepted), ``int``, ``str``, ``bool``, ``dict``/``list`` (any JSON
object/array), ``Any``, another Record class, ``List[T]``, ``Dict[str, T]``, each optionally
``Optional[...]``. Every field may be null or absent in a file (a figure that was not measured, or a
file written before the field existed): ``from_dict`` gives None for it. A value of the wrong type is
one UserError line naming the file and the key path. Keys a record does not know are ignored.
"""

from collections import OrderedDict
from typing import Any, Dict, List, NamedTuple

from espnet_edge.errors import UserError

_NONE = type(None)
_NAMES = {float: "a number", int: "a whole number", str: "a string", bool: "true or false",
          dict: "an object", list: "a list"}


def record_fields(name, fields):
    """A NamedTuple base for a Record: ``fields`` [(name, type)], the types kept for ``from_dict``."""
    base = NamedTuple(name, fields)
    base._types = OrderedDict(fields)
    return base


class Record(object):
    """Mix-in for NamedTuples made by ``record_fields``: ``make``, ``to_dict``, ``from_dict``."""

    __slots__ = ()
    # fields held in memory only: never written by to_dict, never read by from_dict
    TRANSIENT = ()

    @classmethod
    def make(cls, **values):
        """A record with the given fields and None for every other one."""
        return cls(**dict(((name, None) for name in cls._fields), **values))

    def to_dict(self):
        """The record as JSON-ready data (nested records as objects), in field order."""
        return OrderedDict((name, _plain(getattr(self, name))) for name in self._fields
                           if name not in self.TRANSIENT)

    @classmethod
    def from_dict(cls, data, source="record", **transient):
        """Read ``data`` (parsed JSON); ``source`` names the file in error messages. ``transient`` sets
        the in-memory fields."""
        record = cls._read(data, "", source)
        return record._replace(**transient) if transient else record

    @classmethod
    def _read(cls, data, where, source):
        if not isinstance(data, dict):
            _wrong(data, dict, where or "the top level", source)
        values = {}
        for name, kind in cls._types.items():
            if name not in cls.TRANSIENT:
                values[name] = read_value(data.get(name), kind, _join(where, name), source)
        return cls.make(**values)


def _join(where, name):
    return "{}.{}".format(where, name) if where else str(name)


def _plain(value):
    if isinstance(value, Record):
        return value.to_dict()
    if isinstance(value, dict):
        return OrderedDict((key, _plain(item)) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def _wrong(value, kind, where, source):
    shown = repr(value)
    if len(shown) > 40:
        shown = shown[:37] + "..."
    raise UserError("{}: {} should be {}, not {} ({}); fix that value or record the run again".format(
        source, where, _NAMES.get(kind, getattr(kind, "__name__", str(kind))), shown, type(value).__name__))


def read_value(value, kind, where, source):
    """``value`` checked against the field type ``kind`` (see the module docstring)."""
    if value is None or kind is Any:
        return value
    args = getattr(kind, "__args__", None) or ()
    origin = getattr(kind, "__origin__", None)
    if _NONE in args:  # Optional[T]
        return read_value(value, [a for a in args if a is not _NONE][0], where, source)
    if origin in (list, List):
        if not isinstance(value, list):
            _wrong(value, list, where, source)
        return [read_value(item, args[0], "{}[{}]".format(where, index), source) for index, item in enumerate(value)]
    if origin in (dict, Dict):
        if not isinstance(value, dict):
            _wrong(value, dict, where, source)
        return OrderedDict((key, read_value(item, args[1], _join(where, key), source)) for key, item in value.items())
    if isinstance(kind, type) and issubclass(kind, Record):
        return kind._read(value, where, source)
    if kind is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, kind)
    if not ok:
        _wrong(value, kind, where, source)
    return value
