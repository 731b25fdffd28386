"""Defaults live once in espnet_edge/defaults.py: the CLI's option defaults and the library's keyword
defaults are the same objects, and the benchmark reports exactly the configured percentiles."""
import inspect

from espnet_edge import defaults
from espnet_edge.cli.main import build_parser
from espnet_edge.runtime.benchmark import latency_stats
from espnet_edge.runtime.tensorrt import calibrator, tiny_model
from espnet_edge.runtime.tensorrt.build_options import BuildOptions


def _defaults_of(command, *argv):
    return vars(build_parser().parse_args([command] + list(argv)))


def test_cli_defaults_come_from_the_library():
    build = _defaults_of("build", "m.onnx")
    assert build["calib_images"] == defaults.CALIB_IMAGES == 500
    export = _defaults_of("export", "--model", "espnet-c-q3")
    assert export["opset"] == defaults.ONNX_OPSET == 13
    assert export["calib_method"] == defaults.CALIB_METHOD and export["int8_float"] is None


def test_library_keyword_defaults_are_the_same():
    assert BuildOptions().calib_images == defaults.CALIB_IMAGES
    assert calibrator.DEFAULT_MAX_IMAGES == defaults.CALIB_IMAGES
    assert inspect.signature(tiny_model.write_tiny_onnx).parameters["opset"].default == defaults.ONNX_OPSET


def test_host_defaults_are_the_same():
    import pytest

    pytest.importorskip("torch")
    from espnet_edge.host.export import int8, pipeline, variants

    assert inspect.signature(pipeline.export_model).parameters["opset"].default == defaults.ONNX_OPSET
    assert variants.DEFAULT_CALIB_METHOD == defaults.CALIB_METHOD == \
        inspect.signature(int8.quantize_qdq).parameters["method"].default
    assert variants.DEFAULT_TARGET == defaults.INT8_TARGET and variants.DEFAULT_MAX_MIOU_DROP == defaults.INT8_MAX_MIOU_DROP


def test_latency_percentiles():
    stats = latency_stats([float(v) for v in range(1, 101)])   # 1..100 ms
    assert list(stats) == ["mean", "p50", "p90", "p99", "min", "max"]
    assert stats["p50"] == 50.5 and abs(stats["p90"] - 90.1) < 1e-9 and abs(stats["p99"] - 99.01) < 1e-9
    assert stats["min"] == 1.0 and stats["max"] == 100.0 and stats["mean"] == 50.5


def test_pipeline_stage_stats_report_the_same_percentiles():
    from espnet_edge.apps.pipeline import STAGES, stage_stats

    records = [{"compute": float(v), "decode": None} for v in range(1, 101)]
    stages = stage_stats(records)
    assert set(stages) == set(STAGES + ("glass_to_glass",))
    assert stages["decode"] is None and stages["render"] is None
    compute = stages["compute"]
    assert list(compute) == ["mean", "p50", "p90", "p99", "min", "max", "count"]
    assert compute["count"] == 100 and compute["p50"] == 50.5 and abs(compute["p99"] - 99.01) < 1e-9


def test_tensorrt_check_versions_are_listed_once():
    """--trt's help, the unknown-version message and the resolver all read defaults.TRT_CHECK_VERSIONS."""
    import pytest

    from espnet_edge.cli.args import HELP
    from espnet_edge.errors import UserError
    from espnet_edge.runtime import trt_support

    assert trt_support.DEFAULT_VERSION == defaults.TRT_CHECK_VERSION in defaults.TRT_CHECK_VERSIONS
    for version in defaults.TRT_CHECK_VERSIONS:
        trt_support.resolve_version(version)
    listed = ", ".join(defaults.TRT_CHECK_VERSIONS[:-1]) + " or " + defaults.TRT_CHECK_VERSIONS[-1]
    assert listed in HELP["--trt"]
    with pytest.raises(UserError) as error:
        trt_support.resolve_version("9.9")
    assert "choose one of {} ".format(", ".join(defaults.TRT_CHECK_VERSIONS)) in str(error.value)
    assert _defaults_of("check-onnx", "m.onnx")["trt"] == defaults.TRT_CHECK_VERSION


def test_both_benchmark_loops_take_their_defaults_from_defaults_py():
    """`bench` compute only and end to end (CLI and espnet_edge.bench): warm-up, iterations and the
    overlay's alpha come from defaults.py, not from literals in the loops."""
    import espnet_edge as ee
    from espnet_edge import api
    from espnet_edge.apps import e2e_bench

    end_to_end = inspect.signature(e2e_bench.run_end_to_end).parameters
    assert end_to_end["warmup"].default == defaults.WARMUP and end_to_end["alpha"].default == defaults.OVERLAY_ALPHA
    assert inspect.signature(api.bench_segmenter).parameters["warmup"].default == defaults.WARMUP
    assert inspect.signature(ee.bench).parameters["warmup"].default == defaults.WARMUP
