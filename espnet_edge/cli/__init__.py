"""The ``espnet-edge`` command line (device side: no torch at import)."""
