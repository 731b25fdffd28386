"""espnet-edge: ESPNet and ESPNetv2 from PyTorch to TensorRT on NVIDIA Jetson.

    import espnet_edge as ee
    with ee.load("espnetv2-s2.0-pascal-384") as model:
        print(model.segment("cat.jpg").classes_present())

``load``, ``models``, ``export`` and ``bench`` are the Python API (espnet_edge.api; docs/python-api.md).
Layout: ``espnet_edge.host`` needs torch (network definitions, ONNX export) and runs on a
workstation; everything else (runtime, jetson, profiler, apps, cli) is device side: Python 3.6,
no torch at import time. Importing the package loads no numerical library.
"""

__version__ = "0.1.0"

from espnet_edge.utils import log as _log  # noqa: E402,F401 - one stderr handler for the package loggers
from espnet_edge.api import bench, export, load, models  # noqa: E402

__all__ = ["__version__", "bench", "export", "load", "models"]
