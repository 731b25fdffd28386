"""Engine report parser on the engine inspector's JSON (NVIDIA's own example output, see
tests/data/trt_inspector/SOURCE.md), names-only output and a DLA build."""

import json
import os

import pytest

from espnet_edge.errors import UserError
from espnet_edge.runtime.tensorrt import report

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "trt_inspector")
MOBILENET = os.path.join(DATA, "mobilenet_qat_excerpt.graph.json")


@pytest.fixture(scope="module")
def layers():
    with open(MOBILENET) as handle:
        return report.parse_engine_information(handle.read())


def test_layer_table_from_detailed_inspector_json(layers):
    assert len(layers) == 9
    conv = layers[1]
    assert conv["type"] == "CaskConvolution" and conv["precision"] == "int8"
    assert conv["tactic"] == "volta_int8x4_icudnn_int8x4_128x32_relu_xregs_medium_c32_nn_v1"
    assert conv["fused"] == ["features.0.0.weight", "QuantizeLinear_8", "Conv_12", "Clip_16"]
    assert conv["outputs"][0]["shape"] == [1, 32, 112, 112]
    # no TacticName: the tactic value is kept
    assert layers[2]["tactic"] == "0x0000000000000001" and layers[2]["type"] == "CudaDepthwiseConvolution"
    # weightless layers compute in their output's type
    assert layers[0]["precision"] == "int8" and layers[0]["origin"] == "QDQ"
    assert layers[5]["type"] == "TiledPooling" and layers[5]["precision"] == "fp16"
    assert layers[8]["precision"] == "fp32" and layers[8]["type"] == "NoOp"
    assert all(layer["device"] == "gpu" for layer in layers)


def test_report_counts_and_summary(layers):
    rep = report.make_report(layers, {"precision": "int8", "tensorrt": "8.6.1"})
    # INT8 weights (4 convolutions) or INT8 outputs (3 QDQ reformats); pooling FP16; the squeeze FP32
    assert rep["by_precision"] == {"int8": 7, "fp16": 1, "fp32": 1}
    assert rep["by_type"]["Reformat"] == 3 and rep["by_type"]["CaskConvolution"] == 3 and rep["detailed"]
    lines = report.summary_lines(rep)
    assert lines[0] == "9 layers after fusion; precision: 7 int8, 1 fp16, 1 fp32"
    assert any(line.startswith("most fused: 8 ops") for line in lines)
    json.dumps(rep)  # the report is plain JSON


def test_names_only_output_is_flagged():
    layers = report.parse_engine_information(json.dumps(
        {"Layers": ["Conv_0 + Relu_1", "Reformatting CopyNode for Output Tensor 0"], "Bindings": ["x", "y"]}))
    assert layers[0]["fused"] == ["Conv_0", "Relu_1"] and layers[0]["type"] is None
    rep = report.make_report(layers)
    assert not rep["detailed"]
    assert any("ProfilingVerbosity.DETAILED" in line for line in report.summary_lines(rep))


def test_dla_build_lists_gpu_fallback_layers(layers):
    dla_layer = {"Name": "{ForeignNode[Conv_0...Relu_12]}", "LayerType": "DlaLayer",
                 "Inputs": [], "Outputs": [{"Name": "y", "Format/Datatype": "Row major linear FP16 format"}]}
    with open(MOBILENET) as handle:
        data = json.load(handle)
    data["Layers"] = [dla_layer] + data["Layers"][5:]
    rep = report.make_report(report.parse_engine_information(json.dumps(data)), dla=0)
    assert rep["dla_layers"] == ["{ForeignNode[Conv_0...Relu_12]}"]
    assert rep["gpu_fallback_layers"][0] == "GlobalAveragePool_843" and len(rep["gpu_fallback_layers"]) == 4
    assert any("1 layer(s) on the DLA, 4 fell back to the GPU" in line for line in report.summary_lines(rep))


@pytest.mark.parametrize("text", ["not json", json.dumps({"Bindings": []}), json.dumps({"Layers": [3]})])
def test_bad_inspector_output_is_one_line(text):
    with pytest.raises(UserError) as caught:
        report.parse_engine_information(text)
    assert "\n" not in str(caught.value)
