"""Read an ONNX file's ``metadata_props`` without the onnx package (a Jetson may not have it).

An ONNX file is a protobuf ModelProto; metadata_props is its field 14, a repeated
StringStringEntryProto {key = 1, value = 2}. We walk the top-level fields and skip the rest
(the graph is one length-delimited field, skipped without being decoded).
"""

from espnet_edge.errors import UserError
from espnet_edge.runtime.model_info import ModelInfo

_METADATA_PROPS = 14


def _varint(data, pos):
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def _fields(data):
    """Yield (field_number, wire_type, value) over one message; value is int or bytes."""
    pos = 0
    end = len(data)
    while pos < end:
        tag, pos = _varint(data, pos)
        field, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 1:
            value, pos = data[pos:pos + 8], pos + 8
        elif wire == 2:
            length, pos = _varint(data, pos)
            value, pos = data[pos:pos + length], pos + length
        elif wire == 5:
            value, pos = data[pos:pos + 4], pos + 4
        else:
            raise ValueError("unsupported wire type {}".format(wire))
        if pos > end:
            raise ValueError("truncated field {}".format(field))
        yield field, wire, value


def read_metadata_props(path):
    """-> {key: value} of the ONNX file's metadata_props; UserError if it is not a readable ONNX file."""
    try:
        with open(path, "rb") as handle:
            data = bytearray(handle.read())
    except (IOError, OSError) as exc:
        raise UserError("cannot read ONNX file {}: {}".format(path, exc.strerror or exc))
    props = {}
    try:
        for field, wire, value in _fields(data):
            if field == _METADATA_PROPS and wire == 2:
                entry = {}
                for sub, sub_wire, sub_value in _fields(bytearray(value)):
                    if sub in (1, 2) and sub_wire == 2:
                        entry[sub] = bytes(sub_value).decode("utf-8")
                props[entry.get(1, "")] = entry.get(2, "")
    except (ValueError, UnicodeDecodeError) as exc:
        raise UserError("{} is not a readable ONNX file ({}); export it again with "
                        "`espnet-edge export`".format(path, exc))
    return props


def model_info(path):
    """ModelInfo from the espnet_edge.* metadata of the ONNX file at ``path``."""
    return ModelInfo.from_metadata(read_metadata_props(path), source="ONNX file " + path)
