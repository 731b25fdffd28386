"""Parsing of the small value formats the CLI accepts."""

import re

from espnet_edge.errors import UserError


def parse_size(text):
    """'1024x512' -> (1024, 512) as (width, height)."""
    match = re.match(r"^\s*(\d+)\s*[xX]\s*(\d+)\s*$", str(text))
    if not match:
        raise UserError("size {!r} is not WIDTHxHEIGHT; write it like 1024x512".format(text))
    width, height = int(match.group(1)), int(match.group(2))
    if width <= 0 or height <= 0:
        raise UserError("size {!r} must be positive; write it like 1024x512".format(text))
    return width, height


def format_size(size):
    return "{}x{}".format(size[0], size[1])
