"""espnet-edge: ESPNet and ESPNetv2 from PyTorch to TensorRT on NVIDIA Jetson.

Layout: ``espnet_edge.host`` needs torch (network definitions, ONNX export) and runs on a
workstation; everything else (runtime, jetson, profiler, apps, cli) is device side: Python 3.6,
no torch at import time.
"""

__version__ = "0.1.0"
