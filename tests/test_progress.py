"""Progress bars: tqdm where installed, the built-in bar otherwise, off for a non-terminal and under
--quiet; bars on warm-up and on implicit exports. A StringIO that says it is a terminal stands in for one."""
import io
import logging

import pytest

from espnet_edge.utils import log as espnet_log
from espnet_edge.utils import progress as progress_module
from espnet_edge.utils.progress import Progress


class Terminal(io.StringIO):
    def isatty(self):
        return True


def _run(bar, steps):
    with bar:
        for _ in range(steps):
            bar.update()
    return bar.stream.getvalue()


def test_tqdm_draws_the_bar():
    pytest.importorskip("tqdm")
    text = _run(Progress(3, "segment", stream=Terminal()), 3)
    assert "segment" in text and "3/3" in text and "100%" in text


def test_builtin_bar_without_tqdm(monkeypatch):
    monkeypatch.setattr(progress_module, "_tqdm_class", lambda: None)
    text = _run(Progress(4, "eval", stream=Terminal(), width=8), 4)
    assert "eval [########] 4/4" in text and text.endswith("\n")


def test_off_for_a_pipe_and_under_quiet():
    assert _run(Progress(3, "x", stream=io.StringIO()), 3) == ""
    try:
        espnet_log.setup(-1)
        assert _run(Progress(3, "x", stream=Terminal()), 3) == ""
        assert _run(Progress(3, "x", stream=Terminal(), enabled=True), 3) != ""   # forced stays on
    finally:
        espnet_log.setup(0)
    assert logging.getLogger("espnet_edge").isEnabledFor(logging.INFO)


def test_warm_up_has_its_own_bar(tmp_path, monkeypatch):
    pytest.importorskip("onnx")
    from espnet_edge.backends import open_runner
    from espnet_edge.runtime.benchmark import run_benchmark
    from espnet_edge.runtime.segmenter import Segmenter
    from espnet_edge.runtime.tensorrt.tiny_model import write_tiny_onnx

    path, _info = write_tiny_onnx(str(tmp_path / "tiny.onnx"))
    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    segmenter = Segmenter(open_runner(onnx=path, threads=1))
    try:
        result = run_benchmark(segmenter, warmup=2, iters=5, label="bench")
    finally:
        segmenter.close()
    text = terminal.getvalue()
    assert result.warmup == 2 and result.iters == 5
    assert "bench warm-up" in text and "2/2" in text and "5/5" in text


def test_export_reports_every_stage(tmp_path):
    pytest.importorskip("torch")
    from espnet_edge import zoo
    from espnet_edge.host.export.pipeline import EXPORT_STAGES, export_model

    done = []
    report = export_model(zoo.get_model("espnet-c-q3"), size=(128, 64), out_path=str(tmp_path / "m.onnx"),
                          verify_limit=1, progress=lambda: done.append(True))
    assert report["verification"] and len(done) == len(EXPORT_STAGES) == 4
