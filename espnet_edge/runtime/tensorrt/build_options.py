"""What an engine build is asked for, as one typed record (Polygraphy's CreateConfig): the CLI's build flags
(cli/args.build_options), ``TensorRTRunner.from_onnx`` and ``espnet_edge.load(..., fp16=True)`` all make a
BuildOptions, and the builder and the sidecar read only it.

    options = BuildOptions(fp16=True, workspace=512)
    build_engine("export/espnet-q8-1024x512.onnx", options)
"""

import os
from typing import List, NamedTuple, Optional

from espnet_edge import defaults


class BuildOptions(NamedTuple("BuildOptions", [
        ("fp16", bool), ("int8", bool), ("calib", Optional[str]), ("calib_cache", Optional[str]),
        ("calib_images", int), ("allow_fallback", bool), ("workspace", Optional[int]), ("dla", Optional[int]),
        ("timing_cache", Optional[str]), ("shapes", Optional[List[str]]), ("report", bool)])):
    """fp16 / int8: the precision asked for (int8 wins; INT8 builds allow FP16 too); calib: a folder of
    calibration images, calib_cache: a calibration cache file, calib_images: at most this many of calib;
    allow_fallback: build the next precision down where the GPU lacks the fast one; workspace: builder
    workspace in MiB; dla: a DLA core; timing_cache: a timing cache file to read and update; shapes:
    --shapes specs for dynamic inputs (shapes.py); report: also write the engine inspector's layer table."""
    __slots__ = ()

    @classmethod
    def make(cls, options=None, **fields):
        """``options`` (or the defaults) with ``fields`` replaced; TypeError naming an unknown field."""
        unknown = sorted(set(fields) - set(cls._fields))
        if unknown:
            raise TypeError("unknown build option(s) {}; BuildOptions has {}".format(
                ", ".join(unknown), ", ".join(cls._fields)))
        return (options or cls())._replace(**fields)

    @classmethod
    def pick(cls, options=None, **keywords):
        """Like ``make`` from the keywords that are build options; the others (a backend's, e.g.
        ``threads``) are not this record's business and are left out."""
        return cls.make(options, **dict((k, v) for k, v in keywords.items() if k in cls._fields))

    @property
    def requested(self):
        return "int8" if self.int8 else ("fp16" if self.fp16 else "fp32")

    def key_options(self, onnx_variant=None, frame_graph=False):
        """The options part of the engine cache key and of the sidecar's "options" (sidecar.py): what
        changes the engine besides the ONNX file, precision, shapes, TensorRT and GPU. ``onnx_variant``:
        the exported file parsed (None, "fp16", "int8"); ``frame_graph``: its own layers were pinned
        float32 (engines built before that are rebuilt). Paths are absolute."""
        options = {"requested": self.requested, "workspace_mb": self.workspace, "dla": self.dla,
                   "onnx_variant": onnx_variant, "calib": _absolute(self.calib),
                   "calib_cache": _absolute(self.calib_cache), "allow_fallback": bool(self.allow_fallback)}
        if frame_graph:
            options["frame_layers"] = "float32"
        return options


BuildOptions.__new__.__defaults__ = (False, False, None, None, defaults.CALIB_IMAGES, False, None, None, None,
                                     None, False)


def _absolute(path):
    return os.path.abspath(path) if path else None
