"""Engines built before BuildOptions are still reused: for the same options the cache key and the sidecar
JSON are what the previous builder wrote (tests/data/trt_sidecars: its engines and sidecars for 10 build
requests on the 8.2.1.8 and 10.13.0.35 paths, recorded through the strict stand-ins)."""

import base64
import json
import os

import pytest

import trt_bindings
from espnet_edge.runtime.tensorrt import sidecar
from espnet_edge.runtime.tensorrt.build_options import BuildOptions
from trt_sidecar_drive import DATA, REQUESTS, _from_placeholders, _has_paths

HERE = os.path.dirname(os.path.abspath(__file__))
WORK = "/nonexistent/work"   # where the in-process checks put the case's folder
with open(os.path.join(DATA, "cases.json")) as _handle:
    CASES = json.load(_handle)["cases"]
IDS = ["{}-{}".format(c["version"], c["name"]) for c in CASES]


def test_every_request_is_recorded_on_both_paths():
    assert sorted(set((c["version"], c["name"]) for c in CASES)) == sorted(
        (v, name) for v in ("8.2.1.8", "10.13.0.35") for name in REQUESTS)


def _options_of(case):
    """The BuildOptions the request asks for, with this run's paths."""
    fields = _from_placeholders(dict(REQUESTS[case["name"]][0]), WORK, case["version"])
    fields.pop("frame_size", None)
    if "max_calib_images" in fields:
        fields["calib_images"] = fields.pop("max_calib_images")
    return BuildOptions(**fields)


def _inputs_of(case):
    meta = _from_placeholders(case["sidecar"], WORK, case["version"])
    return meta, sidecar.BuildInputs(
        onnx=meta["onnx"], onnx_sha256=meta["onnx_sha256"], precision=meta["precision"],
        shapes=dict((k, tuple(tuple(s) for s in v)) for k, v in meta["shapes"].items()),
        tensorrt_version=meta["tensorrt"], gpu_name=meta["gpu"]["name"],
        compute_capability=meta["gpu"]["compute_capability"], options=_options_of(case),
        onnx_variant=meta["options"]["onnx_variant"], frame_graph="frame_size" in REQUESTS[case["name"]][0])


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_build_options_give_the_recorded_key_options(case):
    meta, inputs = _inputs_of(case)
    assert inputs.key_options() == meta["options"]


@pytest.mark.parametrize("case", [c for c in CASES if not _has_paths(c["sidecar"])],
                         ids=[i for c, i in zip(CASES, IDS) if not _has_paths(c["sidecar"])])
def test_the_recorded_key_is_recomputed_byte_for_byte(case):
    """No paths in the options: the key is exactly the recorded one (same material, same digest)."""
    meta, inputs = _inputs_of(case)
    assert inputs.key() == case["sidecar"]["key"]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_make_sidecar_writes_the_recorded_fields(case):
    meta, inputs = _inputs_of(case)
    engine = os.path.join(WORK, case["engine"])
    data = base64.b64decode(case["engine_base64"])
    made = sidecar.make_sidecar(engine, data, inputs, meta["build_seconds"], meta["model_info"], meta["notes"],
                                jetson=meta["jetson"])
    added_by_the_builder = ("profile_shapes", "api")
    assert set(made) == set(meta) - set(added_by_the_builder)
    differ = [k for k in made if made[k] != meta[k] and k not in ("built_at", "espnet_edge", "key")]
    assert not differ, [(k, made[k], meta[k]) for k in differ]
    if not _has_paths(case["sidecar"]):
        assert made["key"] == meta["key"]


# -- end to end: the current builder, through NVIDIA's bindings and the stand-ins ---------------------------
BINDINGS = {"8.6": "8.2.1.8", "10.13": "10.13.0.35"}


@pytest.fixture(scope="module", params=sorted(BINDINGS))
def reused(request, tmp_path_factory):
    pytest.importorskip("onnx")
    folder, libs = trt_bindings.prepare_or_skip(request.param)
    work = str(tmp_path_factory.mktemp("sidecars" + request.param))
    return BINDINGS[request.param], trt_bindings.drive(
        [os.path.join(HERE, "trt_sidecar_drive.py"), "check", folder, work, os.path.join(DATA, "cases.json"),
         BINDINGS[request.param]], libs)


def test_the_current_builder_reuses_every_recorded_engine(reused):
    version, results = reused
    assert sorted(r["name"] for r in results) == sorted(REQUESTS)
    for r in results:
        assert r["engine"] and r["built"] == [], (version, r)
        assert any(line.startswith("reusing engine ") for line in r["log"]), (version, r)
