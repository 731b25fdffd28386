"""File digests: what checks a downloaded checkpoint, keys an engine cache and stamps an export."""

import hashlib


def sha256_of(path, chunk=1 << 20):
    """Hex sha256 of the file at ``path``, read in ``chunk``-byte blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()
