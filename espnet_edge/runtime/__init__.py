"""Device-side runtime: no torch at import. One Runner interface over torch, ONNX Runtime, TensorRT."""
