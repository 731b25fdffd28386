"""Engine sidecar: write/read, cache key (reuse vs rebuild), mismatch and truncation errors, JetPack."""

import json
import os

import pytest

from espnet_edge.errors import UserError
from espnet_edge.runtime.model_info import ModelInfo
from espnet_edge.runtime.tensorrt import sidecar
from espnet_edge.runtime.tensorrt.build_options import BuildOptions
from espnet_edge.zoo import get_model

SHA = "a" * 64
SHAPES = {"input": ((1, 3, 512, 1024),) * 3}
BUILD = BuildOptions(fp16=True)
OPTIONS = BUILD.key_options()


def _key(**changes):
    args = dict(onnx_sha256=SHA, precision="fp16", shapes=SHAPES, tensorrt_version="8.2.1.8",
                gpu_name="NVIDIA Tegra X2", compute_capability="6.2", options=OPTIONS)
    args.update(changes)
    return sidecar.cache_key(**args)


def _engine(tmp_path, data=b"\x00engine-bytes" * 100, **changes):
    engine = str(tmp_path / "espnet-q8-1024x512-fp16.engine")
    with open(engine, "wb") as handle:
        handle.write(data)
    info = ModelInfo.from_zoo(get_model("espnet-q8"))
    args = dict(onnx="/work/export/espnet-q8-1024x512.onnx", onnx_sha256=SHA, precision="fp16", shapes=SHAPES,
                tensorrt_version="8.2.1.8", gpu_name="NVIDIA Tegra X2", compute_capability="6.2", options=BUILD,
                onnx_variant=None, frame_graph=False)
    args.update(changes)
    meta = sidecar.make_sidecar(engine, data, sidecar.BuildInputs(**args), 123.4, info,
                                jetson={"l4t": "32.7.1", "jetpack": "4.6.1"})
    sidecar.write_sidecar(engine, meta)
    return engine, meta


def test_same_inputs_same_key_and_any_change_changes_it():
    assert _key() == _key()
    others = [_key(onnx_sha256="b" * 64), _key(precision="int8"), _key(tensorrt_version="10.3.0"),
              _key(gpu_name="Orin"), _key(compute_capability="8.7"),
              _key(shapes={"input": ((1, 3, 256, 512),) * 3}), _key(options=dict(OPTIONS, workspace_mb=512))]
    assert len(set(others + [_key()])) == len(others) + 1
    # the TensorRT build number does not change the engine format
    assert _key(tensorrt_version="8.2.1.8") == _key(tensorrt_version="8.2.1.9")


def test_sidecar_roundtrip_and_model_info(tmp_path):
    engine, meta = _engine(tmp_path)
    assert os.path.isfile(engine + ".json")
    read = sidecar.read_sidecar(engine)
    assert read["key"] == _key() and read["engine_bytes"] == os.path.getsize(engine)
    assert read["tensorrt"] == "8.2.1.8" and read["gpu"] == {"name": "NVIDIA Tegra X2", "compute_capability": "6.2"}
    assert read["jetson"] == {"l4t": "32.7.1", "jetpack": "4.6.1"}
    assert read["shapes"] == {"input": [[1, 3, 512, 1024]] * 3}
    info = ModelInfo.from_dict(read["model_info"])
    assert info.name == "espnet-q8" and info.num_classes == 20 and info.preprocess.divide == 255.0
    assert not [f for f in os.listdir(str(tmp_path)) if f.endswith(".tmp")]


def test_cache_decision_reuse_and_rebuild(tmp_path):
    engine, _ = _engine(tmp_path)
    assert sidecar.cache_decision(engine, _key())[0] == "reuse"
    for other in (_key(onnx_sha256="b" * 64), _key(precision="fp32"), _key(tensorrt_version="10.3.0"),
                  _key(gpu_name="Orin", compute_capability="8.7")):
        action, why = sidecar.cache_decision(engine, other)
        assert action == "rebuild" and "other inputs" in why
    assert sidecar.cache_decision(str(tmp_path / "none.engine"), _key())[0] == "rebuild"
    with open(engine, "r+b") as handle:  # truncated copy -> rebuild, not reuse
        handle.truncate(10)
    action, why = sidecar.cache_decision(engine, _key())
    assert action == "rebuild" and "truncated" in why


def test_engine_from_other_gpu_and_tensorrt_is_refused_with_both_named(tmp_path):
    engine, meta = _engine(tmp_path)
    sidecar.check_compatible(meta, "8.2.1.8", "NVIDIA Tegra X2", "6.2", engine)  # same: fine
    with pytest.raises(UserError) as info:
        sidecar.check_compatible(meta, "10.3.0", "Orin", "8.7", engine)
    message = str(info.value)
    assert "TensorRT 8.2.1.8 on NVIDIA Tegra X2 (sm_62)" in message
    assert "TensorRT 10.3.0 on Orin (sm_87)" in message
    assert "espnet-edge build /work/export/espnet-q8-1024x512.onnx --fp16 --out " + engine in message
    assert "TensorRT version and GPU" in message and "\n" not in message
    with pytest.raises(UserError, match="different GPU"):
        sidecar.check_compatible(meta, "8.2.1.8", "NVIDIA Tegra X1", "5.3", engine)
    with pytest.raises(UserError, match="different TensorRT version"):
        sidecar.check_compatible(meta, "8.4.1.5", "NVIDIA Tegra X2", "6.2", engine)


def test_truncated_and_corrupted_engines(tmp_path):
    engine, meta = _engine(tmp_path)
    sidecar.verify_engine_file(engine, meta)
    data = open(engine, "rb").read()
    with open(engine, "wb") as handle:
        handle.write(data[: len(data) // 2])
    with pytest.raises(UserError, match="truncated"):
        sidecar.verify_engine_file(engine, meta)
    with open(engine, "wb") as handle:
        handle.write(data[::-1])
    with pytest.raises(UserError, match="sha256 differs"):
        sidecar.verify_engine_file(engine, meta)


def test_missing_and_broken_sidecars(tmp_path):
    engine = str(tmp_path / "x.engine")
    open(engine, "wb").write(b"1234")
    assert sidecar.read_sidecar(engine, required=False) is None
    with pytest.raises(UserError, match="has no sidecar"):
        sidecar.read_sidecar(engine)
    open(engine + ".json", "w").write("{not json")
    with pytest.raises(UserError, match="not valid JSON"):
        sidecar.read_sidecar(engine)
    open(engine + ".json", "w").write(json.dumps({"format": 99}))
    with pytest.raises(UserError, match="not an espnet-edge engine sidecar"):
        sidecar.read_sidecar(engine)


def test_rebuild_command_keeps_precision_and_dynamic_shapes():
    meta = {"onnx": "m.onnx", "precision": "int8", "options": {"requested": "int8", "calib": "/data/frames"},
            "shapes": {"input": [[1, 3, 256, 512], [1, 3, 512, 1024], [2, 3, 512, 1024]]}}
    assert sidecar.rebuild_command(meta, out="m.engine") == (
        "espnet-edge build m.onnx --int8 --calib /data/frames --shapes "
        "input:1x3x256x512/1x3x512x1024/2x3x512x1024 --out m.engine")


TX2_RELEASE = "# R32 (release), REVISION: 7.1, GCID: 29818004, BOARD: t186ref, EABI: aarch64, DATE: Sat Feb 19 17:05:08 UTC 2022\n"


def test_jetson_release_read_through_sysfs_root(tmp_path, monkeypatch):
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "nv_tegra_release").write_text(TX2_RELEASE)
    monkeypatch.setenv("ESPNET_EDGE_SYSFS_ROOT", str(tmp_path))
    release = sidecar.jetson_release()
    assert release["l4t"] == "32.7.1"
    assert release["jetpack"] == "4.6.1"
    monkeypatch.setenv("ESPNET_EDGE_SYSFS_ROOT", str(tmp_path / "nothing"))
    assert sidecar.jetson_release() is None
