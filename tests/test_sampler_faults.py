"""External bytes never crash a thread, every wait on a child has a deadline: a tegrastats that prints
bytes that are not UTF-8, one that falls silent while alive, a reader that fails. `profile` either
completes with the figures (and a warning) or stops with one error line and the GPU clock restored,
never exit 0 with "no sample arrived"."""

import json
import os
import sys
import time

import pytest

from conftest import run_cli

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sim_jetson import read_freqs  # noqa: E402
from test_profile import FAST, REPLAY, TX2_LOG, tx2  # noqa: E402,F401 - the simulated TX2 of the profile tests


@pytest.mark.slow
def test_non_utf8_bytes_from_tegrastats_are_kept_and_the_run_completes(small_onnx, tx2, tmp_path):
    paths, env = tx2
    env["REPLAY_TEGRASTATS_GARBLE"] = "3"   # every third real line carries 0xff 0xfe 0x80 in its middle
    before = read_freqs(paths)
    out = tmp_path / "profiles"
    proc = run_cli("profile", "--onnx", small_onnx, "--freq", "828", "--out", out, *FAST, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and read_freqs(paths) == before
    (run,) = [d for d in os.listdir(str(out)) if not d.startswith(".")]
    with open(os.path.join(str(out), run, "summary.json")) as handle:
        summary = json.load(handle)
    assert summary["samples_per_phase"]["measured"] >= 5   # the reader lived through the bad bytes
    assert any("not UTF-8" in w for w in summary["warnings"]), summary["warnings"]
    with open(os.path.join(str(out), run, "tegrastats.log"), encoding="utf-8") as handle:
        logged = handle.read().splitlines()
    assert any(u"\ufffd" in line for line in logged) and any(u"\ufffd" not in line for line in logged)


@pytest.mark.slow
def test_a_silent_tegrastats_stops_the_run_with_the_clock_restored(small_onnx, tx2, tmp_path):
    """Alive but printing nothing after 5 lines: stopped about 3 s later, not after the 60 s asked."""
    paths, env = tx2
    env["REPLAY_TEGRASTATS_SILENT_AFTER"] = "5"
    before = read_freqs(paths)
    out = tmp_path / "profiles"
    started = time.time()
    proc = run_cli("profile", "--onnx", small_onnx, "--freq", "828", "--out", out, "--idle", "1",
                   "--duration", "60", "--warmup", "1", env=env, timeout=120)
    assert time.time() - started < 45, proc.stderr   # not the 60 s measured phase
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert "error: tegrastats printed no sample line in 3 s although it is running" in last, last
    assert read_freqs(paths) == before
    assert not out.exists()   # no run folder, and the --out this run created is gone again


def test_a_failing_reader_stops_the_sampler_with_one_line(monkeypatch):
    """A reader thread that fails (here: the parser raising) is a UserError at the next check, not a
    dead thread and a silent, sample-less run."""
    from espnet_edge.errors import UserError
    from espnet_edge.profiler import samplers, tegrastats

    monkeypatch.setenv("REPLAY_TEGRASTATS_FILE", TX2_LOG)
    calls = []
    real = tegrastats.parse_line

    def parse_then_fail(line):
        calls.append(line)
        if len(calls) > 3:
            raise RuntimeError("parser broke")
        return real(line)

    monkeypatch.setattr(tegrastats, "parse_line", parse_then_fail)
    sampler = samplers.TegrastatsSampler(interval_ms=20, executable=REPLAY)
    with sampler:
        deadline = time.time() + 10
        while sampler.exited_early() is None and time.time() < deadline:
            time.sleep(0.05)
        with pytest.raises(UserError, match="reading the output of tegrastats failed .RuntimeError: parser broke"):
            sampler.check()


def test_a_line_without_end_is_read_in_pieces(tmp_path):
    """A child printing megabytes without a newline: the reader holds at most max_line bytes a line."""
    from espnet_edge.profiler.child_output import ChildLines

    script = tmp_path / "flood.py"
    script.write_text("import sys\nsys.stdout.buffer.write(b'x' * 3000000 + b'\\ndone\\n')\nsys.stdout.flush()\n")
    lines = []
    child = ChildLines([sys.executable, str(script)], lambda _t, text: lines.append(len(text)), max_line=65536)
    child.start()
    child.proc.wait(timeout=30)
    child.join(10)
    assert child.failure is None and max(lines) <= 65536 and sum(lines) == 3000000 + 4
    child.stop()


# -- jtop: a stand-in for the jetson-stats client (no jtop service here) --------------------------------
JTOP_STAND_IN = '''
import threading

class jtop(object):
    def __init__(self, interval=1.0):
        self.interval = interval

    def start(self):
        if BEHAVIOUR == "hang":       # a socket that accepts and never answers
            threading.Event().wait()
        raise RuntimeError("jtop.service is not active")

    def close(self):
        pass
'''


@pytest.mark.parametrize("behaviour, said", [("hang", "did not answer in 0.3 s"),
                                             ("refuse", "jtop.service is not active")])
def test_a_jtop_service_that_hangs_or_refuses_stops_the_start_with_one_line(tmp_path, monkeypatch, behaviour, said):
    from espnet_edge.errors import UserError
    from espnet_edge.profiler import samplers

    (tmp_path / "jtop.py").write_text("BEHAVIOUR = {!r}\n".format(behaviour) + JTOP_STAND_IN)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "jtop", raising=False)
    monkeypatch.setattr(samplers, "JTOP_START_TIMEOUT_S", 0.3)
    started = time.monotonic()
    with pytest.raises(UserError) as error:
        samplers.JtopSampler(interval_ms=200).open()
    assert said in str(error.value) and "--source tegrastats" in str(error.value)
    assert time.monotonic() - started < 30   # the deadline, not the hang (generous for a loaded machine)
