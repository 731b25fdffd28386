"""What a runtime needs to know about a network, independent of where it came from.

Built from a zoo entry, from an ONNX file's ``metadata_props`` or from an engine's sidecar JSON,
so the device needs no side files and no torch.
"""

import json

from espnet_edge import __version__
from espnet_edge.errors import UserError
from espnet_edge.zoo import PreprocessSpec

META_PREFIX = "espnet_edge."
REQUIRED_KEYS = ("model", "classes", "palette", "preprocess", "input_size", "input_layout", "fused")


class ModelInfo(object):
    def __init__(self, name, classes, palette, input_size, preprocess, input_layout="NCHW",
                 fused=(), checkpoint_sha256=None, version=__version__, precision="fp32",
                 batch=1, dataset=None, frame_size=None, frame_dtype="float32", overlay_alpha=None,
                 trained=None):
        self.name = name
        self.classes = tuple(classes)
        self.palette = tuple(tuple(int(v) for v in c) for c in palette)
        self.input_size = (int(input_size[0]), int(input_size[1]))  # (width, height)
        self.preprocess = PreprocessSpec.from_dict(preprocess)
        self.input_layout = input_layout  # "NCHW" (normalised) or "NHWC" (raw pixels, fused pre)
        self.fused = tuple(sorted(fused))  # subset of ("overlay", "post", "pre")
        self.checkpoint_sha256 = checkpoint_sha256
        self.version = version
        self.precision = precision
        self.batch = int(batch)
        self.dataset = dataset
        # graphs exported with --input-size take the raw frame of this (width, height) and preprocess it
        self.frame_size = (int(frame_size[0]), int(frame_size[1])) if frame_size else None
        self.frame_dtype = frame_dtype  # "float32" or "uint8": the frame input's (and overlay's) type
        self.overlay_alpha = overlay_alpha  # set when the graph returns the finished overlay
        # False: an architecture-only network exported without --weights (deterministic initialisation);
        # None: not recorded (files written before this key existed)
        self.trained = trained

    @property
    def num_classes(self):
        return len(self.classes)

    @property
    def fused_pre(self):
        return "pre" in self.fused

    @property
    def fused_post(self):
        return "post" in self.fused

    @property
    def fused_overlay(self):
        return "overlay" in self.fused

    @property
    def input_shape(self):
        if self.frame_size:
            return (self.batch, self.frame_size[1], self.frame_size[0], 3)
        width, height = self.input_size
        if self.input_layout == "NHWC":
            return (self.batch, height, width, 3)
        return (self.batch, 3, height, width)

    @property
    def input_dtype(self):
        """numpy dtype name of the input: the frame's for a frame graph, else float32."""
        return self.frame_dtype if self.frame_size else "float32"

    @classmethod
    def from_zoo(cls, entry, size=None, fused=(), batch=1, frame_size=None, frame_dtype="float32",
                 overlay_alpha=None, weights=None):
        """The entry's network, with the zoo checkpoint or ``weights`` (a checkpoint file) loaded."""
        return cls(
            name=entry.name, classes=entry.classes, palette=entry.palette,
            input_size=size or entry.input_size, preprocess=entry.preprocess,
            input_layout="NHWC" if "pre" in fused else "NCHW", fused=fused,
            checkpoint_sha256=entry.sha256, batch=batch, dataset=entry.dataset,
            frame_size=frame_size, frame_dtype=frame_dtype, overlay_alpha=overlay_alpha,
            trained=bool(weights) or not entry.architecture_only,
        )

    def to_dict(self):
        return {
            "model": self.name, "classes": list(self.classes),
            "palette": [list(c) for c in self.palette], "input_size": list(self.input_size),
            "preprocess": self.preprocess.to_dict(), "input_layout": self.input_layout,
            "fused": list(self.fused), "checkpoint_sha256": self.checkpoint_sha256,
            "version": self.version, "precision": self.precision, "batch": self.batch,
            "dataset": self.dataset, "frame_size": list(self.frame_size) if self.frame_size else None,
            "frame_dtype": self.frame_dtype, "overlay_alpha": self.overlay_alpha, "trained": self.trained,
        }

    @classmethod
    def from_dict(cls, data, source="model"):
        missing = [k for k in REQUIRED_KEYS if k not in data]
        if missing:
            raise UserError(
                "{} has no espnet-edge metadata ({} missing); it was not exported by espnet-edge: "
                "export it with `espnet-edge export`, or pass --model NAME to take the "
                "preprocessing and classes from the zoo".format(source, ", ".join(missing)))
        try:
            info = cls(
                name=data["model"], classes=data["classes"], palette=data["palette"],
                input_size=data["input_size"], preprocess=PreprocessSpec.from_dict(data["preprocess"], source),
                input_layout=data["input_layout"], fused=data["fused"],
                checkpoint_sha256=data.get("checkpoint_sha256"), version=data.get("version"),
                precision=data.get("precision", "fp32"), batch=data.get("batch", 1),
                dataset=data.get("dataset"), frame_size=data.get("frame_size"),
                frame_dtype=data.get("frame_dtype", "float32"), overlay_alpha=data.get("overlay_alpha"),
                trained=data.get("trained"),
            )
        except (TypeError, ValueError, KeyError, IndexError, AttributeError) as exc:   # edited or damaged
            raise UserError("{} has espnet-edge metadata that does not parse ({}: {}); export it again with "
                            "`espnet-edge export`".format(source, type(exc).__name__, exc))
        if not info.classes or len(info.palette) < len(info.classes) or min(info.input_size) < 1 or \
                info.batch < 1 or info.input_layout not in ("NCHW", "NHWC"):
            raise UserError("{} has espnet-edge metadata that makes no sense ({} classes, {} colours, input {}x{}, "
                            "batch {}, layout {}); export it again with `espnet-edge export`".format(
                                source, len(info.classes), len(info.palette), info.input_size[0],
                                info.input_size[1], info.batch, info.input_layout))
        return info

    def require_trained(self, action, source="this model"):
        """UserError when the network was exported without trained weights (its masks would be noise)."""
        if self.trained is False:
            raise UserError("{} holds {} exported without weights (architecture only), so its masks would be "
                            "noise; to {}, export it again with --weights FILE (a checkpoint of the public "
                            "implementation `espnet-edge models` names)".format(source, self.name, action))

    def to_metadata(self):
        """-> {key: str} for ONNX metadata_props (values JSON-encoded)."""
        return {META_PREFIX + k: json.dumps(v) for k, v in self.to_dict().items()}

    @classmethod
    def from_metadata(cls, props, source="ONNX file"):
        data = {}
        for key, value in props.items():
            if key.startswith(META_PREFIX):
                try:
                    data[key[len(META_PREFIX):]] = json.loads(value)
                except ValueError:
                    raise UserError("{} has unreadable metadata {} (not JSON); export it again with "
                                    "`espnet-edge export`".format(source, key))
        return cls.from_dict(data, source=source)

    def __repr__(self):
        return "ModelInfo({!r}, {}x{}, fused={})".format(
            self.name, self.input_size[0], self.input_size[1], list(self.fused))
