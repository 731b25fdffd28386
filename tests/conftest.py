"""Paths into ../shared, the CLI runners (in-process `run_main`, subprocess `run_cli`/`spawn`), the default
signal handlers a signalled test needs, and the session-wide exports every test file shares.

When to use which runner (docs/DEVELOPING.md, Tests):
- `run_main(*args)`: `espnet_edge.cli.main.main(argv)` in this process, stdout/stderr captured, the exit
  code returned: for what a command prints, writes and exits with, without a Python start and its
  imports (0.3 to 3 s of CPU per call).
- `run_cli(*args)` / `spawn(argv)`: a real `python -m espnet_edge` process, for what only a process
  shows: signals, kills, exit codes of a killed run, the environment at start, torch-free import, file
  descriptors, a hang. Both give the child the default signal handlers (`default_signal_handlers`), so a
  suite launched with SIGINT ignored (`pytest ... &` from a script) tests the same thing as from a terminal.
"""

import atexit
import contextlib
import io
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading

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
    config.addinivalue_line("markers", "slow: more than ~3 s of CPU on its own; `pytest -m 'not slow'` leaves "
                                       "it out (docs/DEVELOPING.md, Tests)")


@pytest.fixture(scope="session")
def shared():
    if not os.path.isdir(SHARED):
        pytest.fail("../shared is missing: tests need the real weights, images and logs beside the repo")
    return SHARED


# -- signals ----------------------------------------------------------------------------------------
# A shell starts a background job (`pytest ... &` in a script) with SIGINT and SIGQUIT ignored, `nohup`
# ignores SIGHUP, and a child inherits what is ignored. The product keeps an ignored signal ignored
# (utils/signals.py), so a test that signals a process gives that process the default handlers first.
SIGNALS_TESTS_SEND = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT")


def _signals():
    return [getattr(signal, name) for name in SIGNALS_TESTS_SEND]


def default_signal_handlers(then=None):
    """-> a `preexec_fn`: the child starts with the default disposition of every signal a test sends
    (Python then installs its own SIGINT handler), then runs ``then`` (e.g. to ignore SIGHUP as nohup)."""
    def reset():
        for sig in _signals():
            signal.signal(sig, signal.SIG_DFL)
        if then is not None:
            then()
    return reset


@pytest.fixture
def default_signals():
    """For a test that signals its own process: Python's default handlers (SIGINT raises
    KeyboardInterrupt) whatever the launcher ignored; the launcher's come back afterwards."""
    saved = {}
    for sig in _signals():
        saved[sig] = signal.signal(sig, signal.default_int_handler if sig == signal.SIGINT else signal.SIG_DFL)
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


# -- the CLI in a subprocess ------------------------------------------------------------------------
def cli_env(env=None):
    """os.environ with this checkout first on PYTHONPATH, updated with ``env`` (a value None unsets)."""
    full_env = dict(os.environ)
    full_env["PYTHONPATH"] = ROOT + os.pathsep + full_env.get("PYTHONPATH", "")
    for key, value in (env or {}).items():
        if value is None:
            full_env.pop(key, None)
        else:
            full_env[key] = str(value)
    return full_env


def spawn(argv, env=None, preexec_fn=None, **popen_kwargs):
    """subprocess.Popen of ``argv`` (stdin /dev/null, text pipes, cwd ROOT, `cli_env(env)`) with the
    default signal handlers, then ``preexec_fn``: for a test that signals, kills or races a process."""
    popen_kwargs.setdefault("stdin", subprocess.DEVNULL)
    popen_kwargs.setdefault("stdout", subprocess.PIPE)
    popen_kwargs.setdefault("stderr", subprocess.PIPE)
    popen_kwargs.setdefault("universal_newlines", True)
    popen_kwargs.setdefault("cwd", ROOT)
    return subprocess.Popen([str(a) for a in argv], env=cli_env(env),
                            preexec_fn=default_signal_handlers(preexec_fn), **popen_kwargs)


def spawn_cli(*args, **kwargs):
    """`python -m espnet_edge ARGS` as `spawn` starts it."""
    return spawn([sys.executable, "-m", "espnet_edge"] + list(args), **kwargs)


def run_cli(*args, env=None, timeout=600, cwd=None, stdin=subprocess.DEVNULL):
    """Run `python -m espnet_edge ARGS` in a subprocess (stdin /dev/null unless given, the default signal
    handlers); returns CompletedProcess (text)."""
    return subprocess.run([sys.executable, "-m", "espnet_edge"] + [str(a) for a in args],
                          capture_output=True, text=True, env=cli_env(env), timeout=timeout,
                          cwd=cwd or ROOT, stdin=stdin, preexec_fn=default_signal_handlers())


@pytest.fixture
def cli():
    return run_cli


# -- the CLI in this process ------------------------------------------------------------------------
@contextlib.contextmanager
def _environment(env):
    saved = dict((key, os.environ.get(key)) for key in env)
    try:
        for key, value in env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = str(value)
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class _Stream(io.TextIOWrapper):
    """A text stream with a `.buffer`, like sys.stdout under a pipe (not a terminal)."""

    def __init__(self):
        io.TextIOWrapper.__init__(self, io.BytesIO(), encoding="utf-8", errors="replace", write_through=True)

    def text(self):
        self.flush()
        return self.buffer.getvalue().decode("utf-8", "replace")


def _torch_threads():
    torch = sys.modules.get("torch")
    return torch.get_num_threads() if torch is not None else None


def run_main(*args, env=None, cwd=None, stdin=""):
    """`espnet_edge.cli.main.main(ARGS)` in this process, as `run_cli` runs it in a new one: cwd ROOT
    unless given, ``env`` over os.environ (a value None unsets), stdin ``stdin``, stdout and stderr
    captured (not terminals); the logging setup, environment, cwd, streams, signal handlers and torch's
    thread count are put back afterwards. -> CompletedProcess(args, returncode, stdout, stderr)."""
    from espnet_edge.cli import main as cli_main
    from espnet_edge.utils import log

    argv = [str(a) for a in args]
    out, err = _Stream(), _Stream()
    saved_streams = sys.stdin, sys.stdout, sys.stderr
    saved_cwd, threads = os.getcwd(), _torch_threads()
    handlers = dict((sig, signal.getsignal(sig)) for sig in _signals())
    try:
        with _environment(env or {}):
            os.chdir(str(cwd or ROOT))
            sys.stdin, sys.stdout, sys.stderr = io.StringIO(stdin), out, err
            try:
                code = cli_main.main(argv)
            except SystemExit as exit_:  # argparse's --help and usage errors, a signal turned into an exit
                code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
                if not isinstance(exit_.code, (int, type(None))):
                    err.write("{}\n".format(exit_.code))
    finally:
        sys.stdin, sys.stdout, sys.stderr = saved_streams
        os.chdir(saved_cwd)
        log.setup(0, None)   # the Python API's default: notes and warnings, no command name
        if threads is not None:
            sys.modules["torch"].set_num_threads(threads)
        if threading.current_thread() is threading.main_thread():
            for sig, handler in handlers.items():
                signal.signal(sig, handler)
    return subprocess.CompletedProcess(["espnet-edge"] + argv, int(code or 0), out.text(), err.text())


@pytest.fixture
def main():
    return run_main


# -- exports shared by the whole session ------------------------------------------------------------
@pytest.fixture(scope="session")
def export_once(tmp_path_factory):
    """export_once(model, size=(256, 128), **options) -> path of ``model`` exported at ``size`` with
    export_model's ``options`` (fuse_pre=, input_size=, overlay_alpha=, frame_dtype=, support=, ...),
    verified against PyTorch on one frame. Made the first time a test of the session asks for these
    arguments, the same file for every later test: read it, never change it (copy it to rename or
    edit it). The file is named ``<model>-<W>x<H>.onnx``, alone in its folder."""
    from espnet_edge.host.export.pipeline import export_model
    from espnet_edge.zoo import get_model

    made = {}

    def export(model, size=(256, 128), **options):
        key = repr((model, tuple(size), sorted(options.items())))
        if key not in made:
            folder = tmp_path_factory.mktemp("export-" + model)
            path = str(folder / "{}-{}x{}.onnx".format(model, size[0], size[1]))
            options.setdefault("verify_limit", 1)
            export_model(get_model(model), size=tuple(size), out_path=path, **options)
            made[key] = path
        return made[key]

    return export


@pytest.fixture(scope="session")
def camvid_test_split(shared):
    """espnet-q8-camvid (ONNX Runtime fp32, 480x360, the export cache's file) on the whole CamVid test split,
    evaluated once per session: (onnx path, model info, dataset, eval result). Issue 21's accuracy bars
    (tests/test_camvid.py) and INT8's (tests/test_int8_labels.py) both read it."""
    from espnet_edge.apps.datasets import open_dataset
    from espnet_edge.apps.eval import evaluate
    from espnet_edge.backends import open_runner
    from espnet_edge.host.export.pipeline import ensure_onnx
    from espnet_edge.runtime.segmenter import Segmenter
    from espnet_edge.zoo import get_model

    onnx_path = ensure_onnx(get_model("espnet-q8-camvid"))
    dataset = open_dataset(os.path.join(SHARED, "datasets", "camvid"), "camvid", "test")
    segmenter = Segmenter(open_runner(onnx=onnx_path, threads=1))
    try:
        return onnx_path, segmenter.info, dataset, evaluate(segmenter, dataset, progress=False)
    finally:
        segmenter.close()


@pytest.fixture(scope="session")
def small_onnx(export_once):
    """espnet-c-q3 at 256x128, for tests where the network is not the point (export_once's file)."""
    return export_once("espnet-c-q3")
