"""NVIDIA's real TensorRT Python bindings, importable without TensorRT's native libraries.

The bindings wheels (tensorrt-bindings / tensorrt-cuXX-bindings, module ``tensorrt_bindings``) are
fetched with ``pip download --no-deps`` and unzipped into a cache folder (never installed into this
environment). Their extension module links libnvinfer, libnvonnxparser, libnvinfer_plugin (and
libnvparsers for 8.6), which come only from NVIDIA's own servers; in their place we compile small C
libraries exporting the factory symbols the extension needs (found with ``nm -D --undefined-only``
on tensorrt.so), each returning NULL. The module then imports: ``trt.Logger()`` works, every class,
enum and signature can be inspected, and ``trt.Builder(logger)`` raises as on a machine without a GPU.
"""

import glob
import json
import os
import shutil
import subprocess
import sys
import zipfile

# (pip requirement, folder name, soname major) -- versions checked with `pip download` on PyPI
BINDINGS = {
    "8.6": ("tensorrt-bindings==8.6.1", "8"),
    "10.13": ("tensorrt-cu11-bindings==10.13.0.35", "10"),
    "11.4": ("tensorrt-cu12-bindings==11.4.0.106", "11"),
}

_NVINFER = """
void *createInferBuilder_INTERNAL(void *logger, int version) { return 0; }
void *createInferRefitter_INTERNAL(void *engine, void *logger, int version) { return 0; }
void *createInferRuntime_INTERNAL(void *logger, int version) { return 0; }
"""
_ONNXPARSER = """
void *createNvOnnxParser_INTERNAL(void *network, void *logger, int version) { return 0; }
void *createNvOnnxParserRefitter_INTERNAL(void *refitter, void *logger, int version) { return 0; }
int getNvOnnxParserVersion(void) { return 0; }
"""
_PLUGIN = """
void *getPluginRegistry(void) { return 0; }
void *getBuilderPluginRegistry(int kind) { return 0; }
int initLibNvInferPlugins(void *logger, const char *name_space) { return 0; }
"""
# 8.6 only: the UFF/Caffe parsers, C++ symbols (given their mangled names with asm labels)
_PARSERS = """
void *create_uff(void) __asm__("_ZN11nvuffparser15createUffParserEv");
void *create_uff(void) { return 0; }
void field_map(void *self, const char *name, const void *data, int type, int length)
    __asm__("_ZN11nvuffparser8FieldMapC1EPKcPKvNS_9FieldTypeEi");
void field_map(void *self, const char *name, const void *data, int type, int length) { }
void *create_caffe(void) __asm__("_ZN14nvcaffeparser117createCaffeParserEv");
void *create_caffe(void) { return 0; }
void shutdown_protobuf(void) __asm__("_ZN14nvcaffeparser123shutdownProtobufLibraryEv");
void shutdown_protobuf(void) { }
"""


class Unavailable(Exception):
    """The package index cannot be reached: the test skips with this reason."""


def cache_root():
    return os.environ.get("ESPNET_EDGE_TEST_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "espnet-edge-tests", "trt-bindings")


def _pypi_reachable():
    import urllib.request

    try:
        urllib.request.urlopen("https://pypi.org/simple/tensorrt-bindings/", timeout=15).close()
        return True, ""
    except Exception as exc:  # noqa: BLE001 - any failure means unreachable
        return False, str(exc)


def fetch(key, root=None):
    """Download and unzip the bindings wheel for ``key`` ('8.6', '10.13', '11.4'); returns the folder
    holding ``tensorrt_bindings/``. Cached: a second call does nothing."""
    requirement, _ = BINDINGS[key]
    root = root or cache_root()
    target = os.path.join(root, "bindings-" + key)
    if os.path.isfile(os.path.join(target, "tensorrt_bindings", "__init__.py")):
        return target
    download = os.path.join(root, "wheels-" + key)
    os.makedirs(download, exist_ok=True)
    result = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                             "--disable-pip-version-check", "-q", "-d", download, requirement],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=300)
    wheels = glob.glob(os.path.join(download, "*.whl"))
    if result.returncode != 0 or not wheels:
        reachable, why = _pypi_reachable()
        if not reachable:
            raise Unavailable("PyPI is unreachable ({}), so NVIDIA's bindings wheel {} cannot be fetched".format(
                why, requirement))
        raise RuntimeError("pip download {} failed: {}".format(requirement, result.stderr.strip()[-800:]))
    staging = target + ".partial"
    shutil.rmtree(staging, ignore_errors=True)
    with zipfile.ZipFile(wheels[0]) as wheel:
        wheel.extractall(staging)
    shutil.rmtree(target, ignore_errors=True)
    os.rename(staging, target)
    return target


def undefined_symbols(bindings_dir):
    """The C symbols tensorrt.so needs from the native libraries (nm -D --undefined-only)."""
    so = glob.glob(os.path.join(bindings_dir, "tensorrt_bindings", "tensorrt*.so"))[0]
    out = subprocess.run(["nm", "-D", "--undefined-only", so], stdout=subprocess.PIPE,
                         universal_newlines=True, check=True).stdout
    return sorted(line.split()[-1] for line in out.splitlines()
                  if line.split() and line.split()[0] == "U" and "@" not in line.split()[-1]
                  and not line.split()[-1].startswith(("Py", "_Py", "dl")))


def needed_libraries(bindings_dir):
    so = glob.glob(os.path.join(bindings_dir, "tensorrt_bindings", "tensorrt*.so"))[0]
    out = subprocess.run(["readelf", "-d", so], stdout=subprocess.PIPE, universal_newlines=True, check=True).stdout
    return [line.split("[")[1].rstrip("]") for line in out.splitlines() if "(NEEDED)" in line]


def build_standins(key, root=None):
    """Compile the stand-in native libraries for ``key``; returns the folder for LD_LIBRARY_PATH."""
    _, major = BINDINGS[key]
    root = root or cache_root()
    folder = os.path.join(root, "standin-libs-" + key)
    sources = {"libnvinfer.so." + major: _NVINFER, "libnvonnxparser.so." + major: _ONNXPARSER,
               "libnvinfer_plugin.so." + major: _PLUGIN}
    if major == "8":
        sources["libnvparsers.so.8"] = _PARSERS
    if all(os.path.isfile(os.path.join(folder, name)) for name in sources):
        return folder
    os.makedirs(folder, exist_ok=True)
    compiler = os.environ.get("CC", "cc")
    for name, code in sources.items():
        source = os.path.join(folder, name + ".c")
        with open(source, "w") as handle:
            handle.write(code)
        subprocess.run([compiler, "-shared", "-fPIC", "-o", os.path.join(folder, name + ".tmp"), source],
                       check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
        os.rename(os.path.join(folder, name + ".tmp"), os.path.join(folder, name))
    return folder


def environment(lib_dir):
    env = dict(os.environ)
    env["LD_LIBRARY_PATH"] = lib_dir + os.pathsep + env.get("LD_LIBRARY_PATH", "")
    return env


def prepare_or_skip(key):
    """(bindings folder, stand-in library folder) for ``key``; the calling test is skipped, with the
    reason, where the wheels cannot be had (no network, no cache)."""
    import pytest

    try:
        folder = fetch(key)
    except Unavailable as exc:
        pytest.skip(str(exc))
    return folder, build_standins(key)


def drive(script_argv, lib_dir, timeout=300, **extra_env):
    """Run ``python SCRIPT ARGS...`` against the stand-ins in ``lib_dir``; -> the JSON of its last stdout
    line. A failing drive fails the test with the end of its stderr."""
    env = dict(environment(lib_dir), **extra_env)
    result = subprocess.run([sys.executable] + list(script_argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            universal_newlines=True, timeout=timeout, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])
