"""scripts/accuracy_table.py: the rows it builds (every deployment path, called as a user calls export),
its bars, and docs/accuracy.md holding exactly the table the recorded docs/accuracy.json renders to."""

import importlib.util
import json
import os

import pytest

from conftest import ROOT

SCRIPT = os.path.join(ROOT, "scripts", "accuracy_table.py")
RECORDED = os.path.join(ROOT, "docs", "accuracy.json")


@pytest.fixture(scope="module")
def table():
    spec = importlib.util.spec_from_file_location("accuracy_table", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_rows_cover_every_deployment_path(table):
    from espnet_edge.host.export.int8 import CALIB_METHODS

    rows = table.camvid_rows("CALIB", (480, 360), labels_dir="CAMVID")
    keys = [key for key, _, _, _ in rows]
    assert keys[:4] == ["torch-fp32", "ort-fp32", "ort-fp16", "ort-post"]
    assert [k for k in keys if k.startswith("ort-int8-")] == ["ort-int8-" + m for m in CALIB_METHODS] + \
        ["ort-int8-labels"]
    labelled = dict((key, flags) for key, _, flags, _ in rows)["ort-int8-labels"]
    assert labelled[labelled.index("--int8-labels") + 1] == "CAMVID" and "--int8-float" not in labelled
    frames = [row for row in rows if row[0].startswith("frame-")]
    assert len(frames) == 6  # pre, pre+post, pre+post+overlay; float32 and uint8 frames
    for key, _label, flags, which in frames:
        assert which == "base" and flags[flags.index("--input-size") + 1] == "480x360"
        assert ("--trt" in flags) == key.endswith("uint8")  # TensorRT 8.2 takes no UINT8 input
        assert ("--fuse-overlay" in flags) == ("overlay" in key)
    int8 = dict((key, flags) for key, _, flags, _ in rows)["ort-int8-entropy"]
    assert int8 == ["--int8", "--calib", "CALIB", "--calib-method", "entropy"]


def test_bars_and_differences(table):
    rows = [{"key": "ort-fp32", "miou": 0.5717, "miou_void_counted": 0.5565, "class_average": 0.683},
            {"key": "ort-fp16", "miou": 0.5729, "miou_void_counted": 0.5565, "class_average": 0.683},
            {"key": "frame-pre-uint8", "miou": 0.5717, "miou_void_counted": 0.5565, "class_average": 0.683}]
    rows.append({"key": "ort-int8-minmax", "miou": 0.5667, "miou_void_counted": 0.55, "class_average": 0.68})
    out = table.add_differences(rows)
    assert out[1]["d_miou"] == pytest.approx(0.12) and out[1]["bar"]["passed"] is False
    assert out[2]["bar"] == {"max_abs_d_miou": 0.01, "passed": True} and "bar" not in out[0]
    assert out[3]["d_miou"] == pytest.approx(-0.5) and out[3]["bar"] == {"max_abs_d_miou": 0.5, "passed": True}


def test_cityscapes_int8_is_left_out_of_the_shared_compare(table):
    """The Cityscapes INT8 rows are leave-one-out exports (cityscapes_int8), never calibrated on CamVid alone
    and compared on a frame they saw."""
    keys = [key for key, _, _, _ in table.cityscapes_rows((2048, 1024))]
    assert keys == ["ort-fp32", "ort-fp16", "ort-post", "frame-pre-post-float32", "frame-pre-post-uint8"]


def test_int8_choice_reads_the_export_report(table, tmp_path):
    onnx = tmp_path / "m-int8.onnx"
    (tmp_path / "m-int8.onnx.report.json").write_text(json.dumps({
        "quantization": {"float_convs": ["a", "b"], "convs": 82, "float_share": {"float_fraction": 0.25},
                         "method": "percentile"}, "verification": {"mask_agreement": 0.991}}))
    choice = table.int8_choice(str(onnx))
    assert (choice["float_convs"], choice["convs"], choice["heldout_agreement"]) == (2, 82, 0.991)
    assert table._float_convs(choice) == "2 of 82 (25.0%)" and table._float_convs(None) == ""


def test_engine_option_needs_a_file(table, tmp_path, capsys):
    with pytest.raises(SystemExit):
        table.parse_args(["--out", str(tmp_path), "--engine", "camvid/ort-fp16"])
    assert "ROW=FILE" in capsys.readouterr().err
    engine = tmp_path / "x.engine"
    engine.write_bytes(b"x")
    assert table.parse_args(["--out", str(tmp_path), "--engine", "camvid/ort-fp16=" + str(engine)]).engines == \
        {"camvid/ort-fp16": str(engine)}


def test_docs_hold_the_recorded_table(table):
    from espnet_edge.host.export.int8 import CALIB_METHODS

    data = json.load(open(RECORDED))
    docs = open(os.path.join(ROOT, "docs", "accuracy.md")).read()
    assert table.MARKERS[0] + "\n" + table.render_markdown(data) + table.MARKERS[1] in docs
    rows = dict((row["key"], row) for row in data["camvid"]["rows"])
    assert rows["ort-fp32"]["images"] == 233
    assert 0.571 <= rows["ort-fp32"]["miou"] <= 0.573 and abs(rows["ort-fp32"]["miou_void_counted"] - 0.5564) < 5e-4
    assert len(data["cityscapes"]) == 2 and data["machine"]["cpu"]
    assert set("ort-int8-" + m for m in CALIB_METHODS) <= set(rows)
    for city in data["cityscapes"]:   # issue 21's INT8 setting: calibrated with one frame, checked on the other
        loo = [row for row in city["rows"] if row["key"].startswith("ort-int8-loo-")]
        assert len(loo) == 2 and all(row["calibrated"] != row["unseen"] for row in loo)
        assert set(row["unseen"] for row in loo) == set(row["calibrated"] for row in loo)
