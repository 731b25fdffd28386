"""Fuzzing every parser a user can feed: each input either parses into a well-formed value or is refused
with one UserError line; nothing else escapes (no traceback reaches the user). Real inputs (the shared
tegrastats corpus, the state/sidecar files we write) are the seeds that get mutated."""

import argparse
import glob
import io
import json
import os
import sys

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from conftest import TEGRASTATS_DIR
from espnet_edge.cli import cmd_tegrastats, validate
from espnet_edge.errors import UserError
from espnet_edge.jetson import clock_state
from espnet_edge.jetson.clocks import parse_freq_list
from espnet_edge.profiler.tegrastats import parse_line
from espnet_edge.runtime.tensorrt import sidecar
from espnet_edge.runtime.tensorrt.shapes import parse_shapes
from espnet_edge.utils.parsing import parse_size

FUZZ = settings(max_examples=150, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _corpus_lines():
    lines = []
    for path in sorted(glob.glob(os.path.join(TEGRASTATS_DIR, "*.txt"))):
        with open(path, errors="replace") as handle:
            lines += [line.rstrip("\n") for line in handle if line.strip()]
    return lines


LINES = _corpus_lines()


def one_line(exc):
    assert str(exc) and "\n" not in str(exc), repr(str(exc))


def _mutate(data, line):
    """Delete, duplicate, swap or replace characters and tokens of a real line."""
    for _ in range(data.draw(st.integers(min_value=1, max_value=6))):
        if not line:
            break
        where = data.draw(st.integers(min_value=0, max_value=len(line) - 1))
        how = data.draw(st.sampled_from(["delete", "insert", "replace", "token-dup", "token-drop", "digits"]))
        if how == "delete":
            line = line[:where] + line[where + 1:]
        elif how == "insert":
            line = line[:where] + data.draw(st.text(max_size=4)) + line[where:]
        elif how == "replace":
            line = line[:where] + data.draw(st.sampled_from(list("0123456789@%/[]()_,.-+ xXnaNinf\t"))) + line[where + 1:]
        elif how in ("token-dup", "token-drop"):
            tokens = line.split(" ")
            index = where % len(tokens)
            tokens[index:index + 1] = [tokens[index]] * 2 if how == "token-dup" else []
            line = " ".join(tokens)
        else:
            line = line[:where] + data.draw(st.sampled_from(["9" * 30, "-1", "1e999", "nan", "0"])) + line[where:]
    return line


# -- tegrastats lines and files ---------------------------------------------------------------------
@FUZZ
@given(st.data())
def test_mutated_tegrastats_lines_parse_without_parser_errors(data):
    line = _mutate(data, data.draw(st.sampled_from(LINES)))
    record = parse_line(line)
    # parse_line keeps a profiling run alive by catching its own bugs; a fuzzed line must not hit one
    assert not [u for u in record.unknown if u.startswith("<parse error")], (line, record.unknown)
    json.dumps(record)
    cmd_tegrastats.table_row(record)   # what `espnet-edge tegrastats` prints for it


@FUZZ
@given(data=st.data())
def test_tegrastats_files_of_mutated_lines_and_bytes(tmp_path, data):
    lines = [_mutate(data, data.draw(st.sampled_from(LINES))) for _ in range(data.draw(st.integers(0, 4)))]
    junk = data.draw(st.binary(max_size=200))
    path = tmp_path / "log.txt"
    path.write_bytes("\n".join(lines).encode("utf-8", "surrogateescape") + b"\n" + junk)
    out = io.StringIO()
    saved, sys.stdout = sys.stdout, out
    try:
        code = cmd_tegrastats.run(argparse.Namespace(file=str(path), json=data.draw(st.booleans())))
        assert code == 0
    except UserError as exc:
        one_line(exc)
    finally:
        sys.stdout = saved


# -- JSON files we read back: the clock state and the engine sidecar --------------------------------
# no subnormal floats: an ONNX Runtime session with denormal-as-zero (an earlier test in this process)
# leaves flush-to-zero set on the calling thread, where hypothesis cannot represent them
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-2 ** 70, max_value=2 ** 70)
    | st.floats(allow_nan=False, allow_subnormal=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=20)

STATE_SEED = {"version": 1, "boot_id": "6f1c7d2e-sim-boot", "board": "tx2", "pid": 4242, "persistent": False,
              "saved_at": "2026-01-01T00:00:00", "gpus": [{
                  "devfreq": "/sys/devices/17000000.gp10b/devfreq/17000000.gp10b", "min_freq": 114750000,
                  "max_freq": 1300500000, "governor": "nvhost_podgov"}]}


def _mutated_dict(data, seed):
    """The seed with some keys dropped or replaced by arbitrary JSON, at the top or in gpus[0]."""
    value = json.loads(json.dumps(seed))
    for _ in range(data.draw(st.integers(min_value=0, max_value=3))):
        target = value if data.draw(st.booleans()) or "gpus" not in value or not isinstance(value["gpus"], list) \
            or not value["gpus"] or not isinstance(value["gpus"][0], dict) else value["gpus"][0]
        key = data.draw(st.sampled_from(sorted(target) + ["run", "extra"]))
        if data.draw(st.booleans()):
            target.pop(key, None)
        else:
            target[key] = data.draw(JSON_VALUES)
    return value


@FUZZ
@given(st.data())
def test_clock_state_files(data):
    kind = data.draw(st.sampled_from(["mutated", "json", "text"]))
    if kind == "mutated":
        text = json.dumps(_mutated_dict(data, STATE_SEED))
    elif kind == "json":
        text = json.dumps(data.draw(JSON_VALUES))
    else:
        text = data.draw(st.text(max_size=80))
    try:
        state = clock_state.parse(text)
    except UserError as exc:
        one_line(exc)
        return
    for record in state["gpus"]:   # what restore relies on
        assert 0 < record["min_freq"] <= record["max_freq"] and isinstance(record["devfreq"], str)
    clock_state.owner(state)


SIDECAR_SEED = {"format": sidecar.FORMAT, "key": "abc", "precision": "fp16", "onnx": "m.onnx",
                "options": {"requested": "fp16"}, "shapes": {"input": [[1, 3, 64, 128]] * 3}}


@FUZZ
@given(st.data())
def test_sidecar_files(tmp_path, data):
    engine = str(tmp_path / "model.engine")
    kind = data.draw(st.sampled_from(["mutated", "json", "text"]))
    if kind == "mutated":
        text = json.dumps(_mutated_dict(data, SIDECAR_SEED))
    elif kind == "json":
        text = json.dumps(data.draw(JSON_VALUES))
    else:
        text = data.draw(st.text(max_size=80))
    with open(sidecar.sidecar_path(engine), "w") as handle:
        handle.write(text)
    try:
        loaded = sidecar.read_sidecar(engine)
    except UserError as exc:
        one_line(exc)
        return
    assert isinstance(loaded, dict) and loaded["format"] == sidecar.FORMAT


# -- option values: --shapes, --size, frequency lists -------------------------------------------------
SHAPE_ALPHABET = st.sampled_from(list("0123456789x/:,Xinput -") + ["1x3x512x1024", "input:", "/"])


@FUZZ
@given(st.lists(SHAPE_ALPHABET, max_size=30).map("".join) | st.text(max_size=40))
@example("input:1x3x256x512/1x3x512x1024/1x3x1024x2048")
def test_shapes_option(text):
    try:
        shapes = parse_shapes(text)
    except UserError as exc:
        one_line(exc)
        return
    for name, triple in shapes.items():
        assert name and len(triple) == 3 and len(set(len(s) for s in triple)) == 1
        for low, mid, high in zip(*triple):
            assert 0 < low <= mid <= high


@FUZZ
@given(st.lists(st.sampled_from(list("0123456789xX -+.") + ["\t", "\n", "٣"]), max_size=14).map("".join)
       | st.text(max_size=20))
@example("1024x512")
def test_size_option(text):
    try:
        width, height = parse_size(text)
    except UserError as exc:
        one_line(exc)
        with pytest.raises(argparse.ArgumentTypeError):
            validate.size_text(text)
        return
    assert isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0
    assert validate.size_text(text) == text


@FUZZ
@given(st.lists(st.sampled_from(list("0123456789,.-+e ") + ["nan", "inf", "1e999", "٣"]), max_size=16).map("".join)
       | st.text(max_size=20))
@example("824,1134")
def test_frequency_list(text):
    try:
        freqs = parse_freq_list(text)
    except UserError as exc:
        one_line(exc)
        return
    assert freqs and all(isinstance(f, int) and f > 0 for f in freqs) and len(set(freqs)) == len(freqs)


@FUZZ
@given(st.text(max_size=12) | st.sampled_from(["nan", "inf", "-inf", "1e999", "0", "-0", "1_0", " 3 "]))
def test_number_options(text):
    for check in (validate.positive_int, validate.non_negative_int, validate.positive_float,
                  validate.non_negative_float, validate.fraction):
        try:
            value = check(text)
        except argparse.ArgumentTypeError as exc:
            assert "\n" not in str(exc)
            continue
        assert value == value and abs(value) != float("inf")
