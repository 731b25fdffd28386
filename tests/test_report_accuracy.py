"""`espnet-edge report --accuracy`: real eval results (espnet-q8-camvid fp32 and fp16 on CamVid test frames)
beside a simulated-TX2 sweep of the same two ONNX files (real ONNX Runtime inference, real TX2 tegrastats
lines replayed): matching by file, the panels (h)-(j) on the page, and bad input."""

import json
import os
import shutil
import sys

import pytest

from conftest import SHARED, TEGRASTATS_DIR, run_cli

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sim_jetson import make_board_tree  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
CAMVID = os.path.join(SHARED, "datasets", "camvid")
SIZE = (256, 192)   # CamVid's 4:3 at a size the two cores here run quickly
ACCURACY_PNGS = ["fig7h_accuracy.png", "fig7i_miou_fps.png", "fig7j_miou_energy.png"]


pytestmark = pytest.mark.slow   # a simulated sweep and real CamVid evals behind every test (about 20 s)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A sweep of espnet-q8-camvid fp32 and fp16 at two GPU clocks, and both evaluated on 6 test frames."""
    from espnet_edge.host.export import variants
    from espnet_edge.host.export.pipeline import export_model
    from espnet_edge.zoo import get_model

    folder = tmp_path_factory.mktemp("onnx")
    fp32 = str(folder / "espnet-q8-camvid-256x192.onnx")
    export_model(get_model("espnet-q8-camvid"), size=SIZE, out_path=fp32, verify_limit=1)
    fp16 = variants.export_fp16(fp32, verify_limit=1)["onnx"]
    paths = make_board_tree(tmp_path_factory.mktemp("sys"), board="tx2", release="32.7.1", nvpmodel_mode=0)
    env = {"ESPNET_EDGE_SYSFS_ROOT": paths["root"], "ESPNET_EDGE_TEGRASTATS": os.path.join(HERE, "replay_tegrastats.py"),
           "REPLAY_TEGRASTATS_FILE": os.path.join(TEGRASTATS_DIR, "tx2_l4t32-inferred_1.txt")}
    sweep = str(tmp_path_factory.mktemp("sweeps") / "tx2")
    proc = run_cli("sweep", "--onnx", fp32, "--onnx", fp16, "--freqs", "828,1134", "--out", sweep, "--idle", "1",
                   "--duration", "1.5", "--warmup", "2", "--settle-timeout", "1", env=env)
    assert proc.returncode == 0, proc.stderr
    evals = {}
    for name, path, json_path in (("fp32", fp32, os.path.join(sweep, "eval.json")),   # found by itself
                                  ("fp16", fp16, str(folder / "fp16-eval.json"))):     # given with --accuracy
        proc = run_cli("eval", "--onnx", path, "--data", CAMVID, "--limit", "6", "--threads", "1", "--json", json_path)
        assert proc.returncode == 0, proc.stderr
        evals[name] = json_path
    return sweep, evals


@pytest.fixture(scope="module")
def report(runs, tmp_path_factory):
    sweep, evals = runs
    out = str(tmp_path_factory.mktemp("report") / "fig7")
    proc = run_cli("report", sweep, "--accuracy", evals["fp16"], "--out", out)
    assert proc.returncode == 0, proc.stderr
    return out


def test_each_network_gets_its_own_eval_matched_by_file(runs, report):
    _sweep, evals = runs
    data = json.load(open(os.path.join(report, "fig7.json")))
    networks = data["accuracy"]["networks"]
    assert sorted(networks) == ["espnet-q8-camvid-256x192", "espnet-q8-camvid-256x192-fp16"]
    for label, name in (("espnet-q8-camvid-256x192", "fp32"), ("espnet-q8-camvid-256x192-fp16", "fp16")):
        ev = json.load(open(evals[name]))
        net = networks[label]
        assert net["matched_by"] == "file" and net["precision"] == name and net["backend"] == "onnxruntime"
        assert net["miou"] == ev["miou"] and net["class_average"] == ev["class_average"]
        assert os.path.basename(net["eval"]) == os.path.basename(evals[name])
        # one point per swept clock, with the run's FPS and energy per frame
        assert sorted(p["freq_mhz"] for p in net["points"]) == [828.75, 1134.75]
        rows = [r for r in data["table"] if r["network"] == label]
        assert sorted(p["fps"] for p in net["points"]) == sorted(r["fps"] for r in rows)
        assert all(p["energy_mj"] > 0 for p in net["points"])
        assert net["published_miou"] is None  # the published figures are for 480x360
    assert not any("no accuracy" in m for m in data["missing"])


def test_panels_and_page(report):
    import cv2

    files = os.listdir(report)
    assert all(name in files for name in ACCURACY_PNGS)
    for name in ACCURACY_PNGS:
        image = cv2.imread(os.path.join(report, name))
        assert image is not None and image.shape[0] > 300
        # a simulated board: the red SIMULATED badge is on every panel
        red = (abs(image[:, :, 0].astype(int) - 32) < 30) & (image[:, :, 1] < 40) & (image[:, :, 2] > 140)
        assert red.sum() > 50, name
    page = open(os.path.join(report, "fig7.html")).read()
    assert "<h2>Accuracy (espnet-edge eval)</h2>" in page
    assert all(name in page for name in ACCURACY_PNGS)
    assert page.count("<td>file</td>") == 2


def test_model_precision_backend_match_and_what_is_missing(runs, tmp_path):
    sweep, evals = runs
    # the fp32 result of a file of another name (e.g. evaluated on the workstation, profiled on the board)
    renamed = json.load(open(evals["fp32"]))
    renamed["file"] = "/elsewhere/espnet-q8-camvid.onnx"
    path = str(tmp_path / "eval-renamed.json")
    json.dump(renamed, open(path, "w"))
    copy = tmp_path / "runs"
    shutil.copytree(os.path.join(sweep, "runs"), str(copy))   # no eval.json beside these runs
    proc = run_cli("report", str(copy), "--accuracy", path, "--out", str(tmp_path / "r"))
    assert proc.returncode == 0, proc.stderr
    data = json.load(open(str(tmp_path / "r" / "fig7.json")))
    assert data["accuracy"]["networks"]["espnet-q8-camvid-256x192"]["matched_by"] == "model+precision+backend"
    assert "espnet-q8-camvid-256x192-fp16" not in data["accuracy"]["networks"]
    assert any(m.startswith("espnet-q8-camvid-256x192-fp16: no accuracy") for m in data["missing"])


def test_bad_accuracy_input(runs, tmp_path):
    sweep, _evals = runs
    proc = run_cli("report", sweep, "--accuracy", str(tmp_path / "none.json"), "--out", str(tmp_path / "a"))
    assert proc.returncode == 2 and "--accuracy {} does not exist".format(tmp_path / "none.json") in proc.stderr
    other = tmp_path / "other.json"
    other.write_text('{"labels": []}')
    proc = run_cli("report", sweep, "--accuracy", str(other), "--out", str(tmp_path / "b"))
    assert proc.returncode == 2 and "is not an eval result" in proc.stderr and "Traceback" not in proc.stderr
    assert not os.path.exists(str(tmp_path / "b"))
