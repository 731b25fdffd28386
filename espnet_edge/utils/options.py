"""Option records (Polygraphy's typed argument groups): a NamedTuple whose every field has a default, made
from a record and keywords that replace some fields.

    class MeasureOptions(Options, NamedTuple("MeasureOptions", [("idle", float), ...])):
        __slots__ = ()
    MeasureOptions.__new__.__defaults__ = (defaults.PROFILE_IDLE_S, ...)

    MeasureOptions.make(duration=2.0)           # the defaults, duration replaced
    MeasureOptions.make(options, warmup=0)      # options, warmup replaced

The CLI's argument groups (cli/args.py) turn their flags into these records; the library takes them.
"""


class Options(object):
    """Mix-in for option NamedTuples: ``make`` and ``pick``."""

    __slots__ = ()

    @classmethod
    def make(cls, options=None, **fields):
        """``options`` (or the defaults) with ``fields`` replaced; TypeError naming an unknown field."""
        unknown = sorted(set(fields) - set(cls._fields))
        if unknown:
            raise TypeError("unknown option(s) {}; {} has {}".format(
                ", ".join(unknown), cls.__name__, ", ".join(cls._fields)))
        return (options or cls())._replace(**fields)

    @classmethod
    def pick(cls, options=None, **keywords):
        """Like ``make`` from the keywords that are this record's fields; the others (another record's)
        are left out."""
        return cls.make(options, **dict((k, v) for k, v in keywords.items() if k in cls._fields))
