"""TensorRT engines: build (FP32/FP16/INT8) from espnet-edge ONNX files and run them.

Written against the documented TensorRT Python API of 8.2 (JetPack 4.6, TX2) through 10.x; the calls
that differ between versions are chosen by ``compat.api_plan(version)``. Importing this package does
not import tensorrt, pycuda or cuda-python: those are imported inside functions.
"""
