import atexit
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("ESPNET_EDGE_SHARED", os.path.join(os.path.dirname(ROOT), "shared"))
WEIGHTS = os.path.join(SHARED, "weights")
IMAGES = os.path.join(SHARED, "images")
CITYSCAPES_IMAGES = os.path.join(IMAGES, "cityscapes")
PHOTOS = os.path.join(IMAGES, "photos")
REFERENCE = os.path.join(SHARED, "reference")
TEGRASTATS_DIR = os.path.join(SHARED, "jetson", "tegrastats")
TRT_SUPPORT = os.path.join(SHARED, "tensorrt", "onnx_trt_operator_support.json")

os.environ.setdefault("ESPNET_EDGE_WEIGHTS", WEIGHTS)
# ONNX files exported on demand (and any download) go to a cache of this test session, not the user's
if not os.environ.get("ESPNET_EDGE_CACHE"):
    os.environ["ESPNET_EDGE_CACHE"] = tempfile.mkdtemp(prefix="espnet-edge-test-cache-")
    atexit.register(shutil.rmtree, os.environ["ESPNET_EDGE_CACHE"], True)


def pytest_configure(config):
    config.addinivalue_line("markers", "gpu: needs an NVIDIA GPU and TensorRT (skipped otherwise)")
    config.addinivalue_line("markers", "slow: takes more than a few seconds")


@pytest.fixture(scope="session")
def shared():
    if not os.path.isdir(SHARED):
        pytest.fail("../shared is missing: tests need the real weights, images and logs beside the repo")
    return SHARED


def run_cli(*args, env=None, timeout=600, cwd=None):
    """Run `python -m espnet_edge ARGS` in a subprocess; returns CompletedProcess (text)."""
    full_env = dict(os.environ)
    full_env["PYTHONPATH"] = ROOT + os.pathsep + full_env.get("PYTHONPATH", "")
    if env:
        full_env.update(env)
    return subprocess.run([sys.executable, "-m", "espnet_edge"] + [str(a) for a in args],
                          capture_output=True, text=True, env=full_env, timeout=timeout,
                          cwd=cwd or ROOT)


@pytest.fixture(scope="session")
def small_onnx(tmp_path_factory):
    """espnet-c-q3 at 256x128 exported once per session, for tests where the network is not the point."""
    from espnet_edge.host.export.pipeline import export_model
    from espnet_edge.zoo import get_model

    path = str(tmp_path_factory.mktemp("onnx") / "espnet-c-q3-256x128.onnx")
    export_model(get_model("espnet-c-q3"), size=(256, 128), out_path=path, verify_limit=1)
    return path


@pytest.fixture
def cli():
    return run_cli
