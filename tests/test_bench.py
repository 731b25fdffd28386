"""run_benchmark (compute only): iteration records, the runner's stages, duration mode, bad arguments;
bench_segmenter end to end on real frames."""

import os

import pytest

from conftest import PHOTOS
from espnet_edge.errors import UserError
from espnet_edge.runtime.benchmark import latency_stats, run_benchmark
from espnet_edge.runtime.onnxruntime_runner import OnnxRuntimeRunner
from espnet_edge.runtime.segmenter import Segmenter
from test_onnxruntime_runner import _identity_logits


@pytest.fixture
def segmenter(tmp_path):
    path, _ = _identity_logits(tmp_path / "toy.onnx")
    return Segmenter(OnnxRuntimeRunner(path, threads=1))


def test_iterations_are_timestamped(segmenter):
    result = run_benchmark(segmenter, warmup=1, iters=5, progress=False)
    assert result.iters == 5 and result.mode == "compute" and len(result.iterations) == 5
    starts = [r.start_perf for r in result.iterations]
    assert starts == sorted(starts)
    for record in result.iterations:
        assert record.end_perf >= record.start_perf and record.end_time >= record.start_time
    lat = result.latency_ms
    assert lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"]
    # the runner's own split, every call: ONNX Runtime's copies are 0.0 (stated), compute is its call
    assert [result.stages[s]["count"] for s in ("h2d", "compute", "d2h")] == [5, 5, 5]
    assert result.stages["h2d"]["max"] == 0.0 and result.stages["d2h"]["max"] == 0.0
    assert 0 < result.stages["compute"]["mean"] <= lat["mean"]
    assert "session.run" in result.timings_note


def test_duration_mode_and_end_to_end(segmenter, shared):
    from espnet_edge.api import bench_segmenter

    timed = run_benchmark(segmenter, warmup=0, duration=0.2, progress=False)
    assert timed.iters >= 1
    last = timed.iterations[-1].start_perf - timed.iterations[0].start_perf
    assert last < 0.2 + 1.0  # stopped after the deadline, not at some default count
    photos = sorted(os.path.join(PHOTOS, f) for f in os.listdir(PHOTOS))[:2]
    e2e = bench_segmenter(segmenter, warmup=0, iters=3, end_to_end=True, images=photos, progress=False)
    assert e2e.mode == "end-to-end" and e2e.frames == "images" and e2e.iters == 3 and e2e.pipelined
    assert e2e.stages["render"]["count"] == 3 and e2e.model == "toy" and e2e.backend == "onnxruntime"


def test_latency_stats_values():
    stats = latency_stats([1.0, 2.0, 3.0, 4.0])
    assert stats["mean"] == 2.5 and stats["min"] == 1.0 and stats["max"] == 4.0 and stats["p50"] == 2.5


@pytest.mark.parametrize("kwargs,match", [({"iters": 0}, "--iters"), ({"duration": -1}, "--duration"),
                                          ({"warmup": -1, "iters": 1}, "--warmup")])
def test_bad_arguments(segmenter, kwargs, match):
    with pytest.raises(UserError, match=match):
        run_benchmark(segmenter, progress=False, **kwargs)
