"""The CLI on the API: a command prints what its espnet_edge.api function returns (the same JSON), for the
commands cheap enough to run twice here; bench's pair is tests/test_bench.py, profile's and sweep's
tests/test_profile.py and tests/test_sweep.py (they run through the API functions)."""

import json
import os

from conftest import TEGRASTATS_DIR
from espnet_edge import api

TX2_LOG = os.path.join(TEGRASTATS_DIR, "tx2_l4t32-inferred_1.txt")


def test_models_name_is_model_card(main):
    done = main("models", "espnet-q8", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == api.model_card("espnet-q8")
    assert json.loads(main("models", "--json").stdout) == [api.model_card(name) for name in api.models()]


def test_tegrastats_json_is_read_tegrastats(main):
    done = main("tegrastats", TX2_LOG, "--json")
    assert done.returncode == 0, done.stderr
    printed = [json.loads(line) for line in done.stdout.splitlines()]
    assert printed == [sample.to_dict() for sample in api.read_tegrastats(TX2_LOG)]
    assert printed and any(line["rails_mw"] for line in printed)


def test_check_onnx_json_is_check_onnx(main, small_onnx):
    done = main("check-onnx", small_onnx, "--json")
    check = api.check_onnx(small_onnx)
    assert done.returncode == (0 if check.passed else 1)
    assert json.loads(done.stdout) == check.to_dict()
    assert check.passed and check.to_dict()["tensorrt"] == "8.2"
