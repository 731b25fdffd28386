"""Defaults that both the CLI (option defaults, help texts) and the library (keyword defaults) use:
one constant each. Plain values, no imports, so every layer (device side included) can read them."""

# ONNX opset of exported graphs: TensorRT 8.2 (JetPack 4.6, the TX2's last release) parses opset <= 13
# ("TensorRT 8.2 supports operators up to Opset 13": onnx-tensorrt's docs/operators.md for 8.2, kept
# as ../shared/tensorrt/onnx_trt_operator_support.json and read by runtime/trt_support.py)
ONNX_OPSET = 13

# at most this many images of --calib feed TensorRT's INT8 calibrator (the engine build)
CALIB_IMAGES = 500

# TensorRT versions whose ONNX parser a graph is checked against (`--trt`: onnx-tensorrt's operator matrix,
# runtime/trt_support.py; "10" = the latest 10.x), and the default: 8.2, JetPack 4.6, the TX2's last release
TRT_CHECK_VERSIONS = ("8.2", "8.4", "8.5", "8.6", "10.0", "10")
TRT_CHECK_VERSION = "8.2"

# INT8 QDQ calibration method of `export --int8` (onnxruntime.quantization; see host/export/int8.py)
CALIB_METHOD = "percentile"
# which Convs `export --int8` keeps in float when --int8-float N does not fix their number: the fewest
# (in sensitivity-scan order) that reach, on images never calibrated on, this mask agreement with fp32
# (held-out calibration images) ...
INT8_TARGET = 0.99
# ... or, with labelled images (--int8-labels), at most this mIoU drop against fp32, in points
INT8_MAX_MIOU_DROP = 0.5

# latency percentiles every benchmark reports, as the keys p50, p90, p99
LATENCY_PERCENTILES = (50, 90, 99)

# batch size of an exported graph / a benchmark run (`--batch`)
BATCH = 1

# untimed warm-up inferences before `bench` times and `profile` measures (`--warmup`)
WARMUP = 10
# timed iterations of `bench` when neither --iters nor --duration is given
BENCH_ITERS = 100

# overlay opacity of `segment --overlay`, the demo and a `--fuse-overlay` graph (`--alpha`)
OVERLAY_ALPHA = 0.5

# seconds to wait for a pinned GPU clock to read back and board power to settle (`--settle-timeout`)
SETTLE_TIMEOUT_S = 10.0

# `profile`/`sweep` measuring phases: idle baseline (s), measured phase (s), sampling interval (ms),
# input-power node interval (ms; 0 = tegrastats only)
PROFILE_IDLE_S = 3.0
PROFILE_DURATION_S = 10.0
SAMPLE_INTERVAL_MS = 100
POWER_INTERVAL_MS = 10
