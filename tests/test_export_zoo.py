"""Acceptance: every zoo model exports at its native size, passes the TensorRT 8.2 check and
ONNX Runtime agrees with PyTorch on a real Cityscapes frame."""

import concurrent.futures
import multiprocessing
import os

import onnx
import pytest

from conftest import CITYSCAPES_IMAGES, TRT_SUPPORT
from espnet_edge import zoo
from espnet_edge.runtime import trt_support
from espnet_edge.runtime.model_info import ModelInfo

FRAME = os.path.join(CITYSCAPES_IMAGES, "frankfurt_000000_000294_leftImg8bit.png")


def _export_each(names, out):
    """In a worker process: export ``names`` into ``out`` with one torch thread -> {name: report}."""
    import torch

    from espnet_edge.host.export.pipeline import export_model

    torch.set_num_threads(1)
    return dict((name, export_model(zoo.get_model(name), out_dir=out, images=[FRAME], support=TRT_SUPPORT))
                for name in names)


@pytest.fixture(scope="module")
def exported(tmp_path_factory, shared):
    """Every entry exported by two worker processes (alternate names each): tracing and the graph passes
    are single-threaded Python, so two processes keep both cores of a 2-core machine busy."""
    out = str(tmp_path_factory.mktemp("zoo"))
    names = zoo.list_models()
    reports = {}
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(2, mp_context=context) as pool:
        for part in pool.map(_export_each, [names[0::2], names[1::2]], [out, out]):
            reports.update(part)
    return reports


@pytest.mark.slow
@pytest.mark.parametrize("name", zoo.list_models())
def test_zoo_model_exports_for_tensorrt_82(exported, name):
    report = exported[name]
    entry = zoo.get_model(name)
    path = report["onnx"]
    assert os.path.basename(path) == "{}-{}x{}.onnx".format(name, *entry.input_size)
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    assert [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] == [13]
    assert [i.name for i in model.graph.input] == ["input"]
    assert [o.name for o in model.graph.output] == ["logits"]
    dims = [d.dim_value for d in model.graph.output[0].type.tensor_type.shape.dim]
    assert dims == [1, entry.num_classes, entry.input_size[1], entry.input_size[0]]
    ops = set(n.op_type for n in model.graph.node)
    assert not ops & {"Shape", "Constant", "Gather", "NonZero"}, ops  # static graph, constants folded
    table, issues = trt_support.check_model(model, "8.2", TRT_SUPPORT)
    assert issues == [] and table.source == TRT_SUPPORT
    info = ModelInfo.from_metadata({p.key: p.value for p in model.metadata_props})
    assert info.name == name and info.input_size == entry.input_size
    assert info.checkpoint_sha256 == entry.sha256 and info.fused == ()
    verification = report["verification"]
    assert verification["source"] == "images" and verification["images"] == 1
    if not entry.architecture_only:
        assert verification["max_abs_logit_diff"] < 1e-3
    elif entry.family != "enet":  # untrained logits reach ~60-200: float32 at that magnitude
        assert verification["max_abs_logit_diff"] < 0.1
    # ENet: a value unpooled one pixel away where float rounding picks another pooling maximum
    # (tests/test_comparison_models.py proves the unpooling itself exact)
    assert verification["mask_agreement_min"] > 0.999
    assert os.path.isfile(path + ".report.json")
