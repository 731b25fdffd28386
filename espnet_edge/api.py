"""The Python API: ``espnet_edge.load``, ``models``, ``export``, ``bench`` (re-exported by the package).

    import espnet_edge as ee
    with ee.load("espnetv2-s2.0-pascal-384") as model:
        result = model.segment("cat.jpg")          # also a PIL image, or a numpy array + channels=
    print(result.classes_present())

Every name resolves as the CLI's --model/--onnx/--engine/--backend do (espnet_edge.backends), so a
model means the same backend here and in every command. Heavy libraries load on first use.
"""

import fnmatch
import os

from espnet_edge import defaults
from espnet_edge.errors import UserError
from espnet_edge.images import read_image


def _size(size):
    if size is None or isinstance(size, tuple) and len(size) == 2:
        return size
    if isinstance(size, str):
        from espnet_edge.utils.parsing import parse_size

        return parse_size(size)
    if isinstance(size, list) and len(size) == 2:
        return tuple(size)
    raise UserError("size must be (width, height) or 'WxH' (got {!r}): give e.g. (1024, 512) or '1024x512'".format(size))


class SegmentationModel(object):
    """A loaded network; ``segment(image)`` -> Segmentation. Close it (or use ``with``) when done."""

    def __init__(self, runner, source=None, segmenter=None):
        """``segmenter``: one already made over ``runner`` (e.g. apps.frame_graph_choice's router)."""
        from espnet_edge.runtime.segmenter import Segmenter

        self.segmenter = segmenter or Segmenter(runner)
        self.info = self.segmenter.info
        self.source = source  # the backends.Source it was opened from

    @property
    def name(self):
        return self.info.name

    @property
    def class_names(self):
        return self.info.classes

    @property
    def palette(self):
        return self.info.palette

    @property
    def input_size(self):
        return self.info.input_size

    @property
    def backend(self):
        return self.segmenter.runner.backend

    def segment(self, image, channels=None, at_network_size=False):
        """``image``: a path, a PIL image, or a uint8 numpy array HxWx3 with ``channels`` 'rgb' or 'bgr'.
        The class map comes at the image's size (nearest-neighbour) unless ``at_network_size``;
        images the result hands back (``image``, ``colorize()``, ``overlay()``) are in ``channels``
        order (default rgb)."""
        from espnet_edge.segmentation import Segmentation, to_bgr

        frame, order = to_bgr(image, channels)
        class_map = self.segmenter.segment(frame, at_network_size=at_network_size)
        return Segmentation(class_map, self.info.classes, self.info.palette, frame, order, self.info.name)

    def close(self):
        self.segmenter.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __repr__(self):
        return "SegmentationModel({!r}, {}, {}x{})".format(self.name, self.backend, *self.input_size)


def load(model_or_file, backend="auto", size=None, weights=None, threads=None, model=None, batch=1,
         **options):
    """A zoo model name, an .onnx file or a TensorRT engine (optionally ``backend:``-prefixed) ->
    SegmentationModel. ``size`` (width, height) or 'WxH' for zoo models (default: native);
    ``model`` names the zoo entry for a file without espnet-edge metadata; ``options`` go to the
    backend's opener (e.g. ``fp16=True`` when tensorrt builds from ONNX)."""
    return _open(model_or_file, backend, size, weights, threads, model, batch, options, for_masks=True)


def _source(model_or_file, backend, size, weights, model, batch):
    from espnet_edge.backends import Source, resolve_spec

    if isinstance(model_or_file, Source):
        return model_or_file
    if not isinstance(model_or_file, str) and not hasattr(model_or_file, "__fspath__"):
        raise UserError("give a zoo model name, an .onnx file or an engine path (got {!r})".format(model_or_file))
    return resolve_spec(os.fspath(model_or_file), backend=backend, model=model, weights=weights,
                        size=_size(size), batch=batch)


def _open(model_or_file, backend, size, weights, threads, model, batch, options, for_masks):
    from espnet_edge.backends import open_source

    source = _source(model_or_file, backend, size, weights, model, batch)
    if for_masks and source.kind == "model":
        from espnet_edge.zoo import require_weights

        require_weights(source.entry, source.weights, "segment with it")
    model = SegmentationModel(open_source(source, threads=threads, **options), source)
    if for_masks and source.kind != "model":
        try:
            model.info.require_trained("segment with it", source.path)
        except UserError:
            model.close()
            raise
    return model


def models(pattern=None):
    """Names of the zoo's models (timm-style), optionally filtered by a glob: models("espnetv2*city*")."""
    from espnet_edge.zoo import list_models

    names = list_models()
    if pattern is not None and not isinstance(pattern, str):
        raise UserError("models(pattern): give a glob such as 'espnetv2*city*' (got {!r})".format(pattern))
    return [n for n in names if fnmatch.fnmatchcase(n, pattern)] if pattern else names


def model_card(name):
    """One zoo model as `espnet-edge models NAME --json` prints it: name, dataset, classes, size ('WxH'),
    params, gflops, weights (the file here or None), weights_status, sha256, architecture_only,
    weights_from, published (the authors' figures with their sources) -> dict."""
    from espnet_edge.utils.parsing import format_size
    from espnet_edge.weights import weights_status
    from espnet_edge.zoo import get_model

    entry = get_model(name)
    status, path = weights_status(entry)
    return {
        "name": entry.name, "dataset": entry.dataset, "classes": entry.num_classes,
        "size": format_size(entry.input_size), "params": entry.params,
        "gflops": entry.gflops,
        "weights": path, "weights_status": status, "sha256": entry.sha256,
        "architecture_only": entry.architecture_only, "weights_from": entry.weights_from,
        "published": [figure.to_dict() for figure in entry.published],
    }


def export(model, size=None, out_dir=None, weights=None, batch=1, fuse_pre=False, fuse_post=False,
           images=None, **options):
    """Export a zoo model to a verified ONNX file (workstation: needs torch and onnx) -> the report
    dict written beside it as <file>.report.json; ``report["onnx"]`` is the file's path. ``out_dir``
    defaults to ./export. ``options``: opset, trt_version, support, verify_limit."""
    from espnet_edge.zoo import get_model

    entry = get_model(model)
    try:
        from espnet_edge.host.export.pipeline import export_model
    except ImportError as exc:
        from espnet_edge.errors import MissingDependency

        raise MissingDependency("export needs the workstation extras: pip install espnet-edge[host] "
                                "({})".format(exc))
    if isinstance(images, str):
        images = [images]
    return export_model(entry, weights=weights, size=_size(size), batch=batch, fuse_pre=fuse_pre,
                        fuse_post=fuse_post, out_dir=out_dir, images=images, **options)


def _variants():
    try:
        from espnet_edge.host.export import variants
    except ImportError as exc:
        from espnet_edge.errors import MissingDependency

        raise MissingDependency("export needs the workstation extras (torch, onnx, onnxruntime): "
                                "pip install espnet-edge[host] ({})".format(exc))
    return variants


def export_fp16(onnx, images=None, **options):
    """``<onnx>-fp16.onnx`` from an exported fp32 ONNX file, verified against it (`export --fp16`) -> its
    report dict. ``options``: trt_version, support, verify_limit (host.export.variants.export_fp16)."""
    if isinstance(images, str):
        images = [images]
    return _variants().export_fp16(os.fspath(onnx), images=images, **options)


def export_int8(onnx, calib, **options):
    """``<onnx>-int8.onnx`` (QDQ) from an exported fp32 ONNX file, calibrated on the images of ``calib`` and
    judged against fp32 (`export --int8 --calib DIR`) -> its report dict. ``options``: calib_count, method,
    keep_float, target, equalize, labels, max_miou_drop, augment, trt_version, support, log
    (host.export.variants.export_int8)."""
    return _variants().export_int8(os.fspath(onnx), os.fspath(calib), **options)


def bench(model_or_file, backend="auto", size=None, iters=None, warmup=defaults.WARMUP, duration=None, end_to_end=False,
          images=None, threads=None, batch=1, progress=False, pipelined=True, resize_frames=False, frame_graph=True,
          **options):
    """Time a network as `espnet-edge bench` does (``iters`` default defaults.BENCH_ITERS, or ``duration``
    seconds) -> the dict `bench --json` writes (runtime.benchmark.BenchResult): latency_ms {mean, p50,
    p90, p99, min, max}, fps, stages (h2d / compute / d2h; end to end every stage), iters, mode
    ('compute' or 'end-to-end'), backend, model, size, runner, host. ``end_to_end``: the threaded
    pipeline of `bench --end-to-end` (``pipelined=False``: `--sequential`) on ``images`` (a folder or a
    list of paths/BGR arrays; default synthetic frames); a zoo model then runs its exact frame graph for
    the frames' size, as the CLI does (``frame_graph=False``: `--no-frame-graph`)."""
    if isinstance(images, str):
        from espnet_edge.images import list_images

        images = list_images([images])
    # timing needs no trained weights: architecture-only zoo models run with their deterministic init
    if end_to_end:
        source = _source(model_or_file, backend, size, None, None, batch)
        segmenter = end_to_end_segmenter(source, images, frame_graph=frame_graph, threads=threads, options=options)
        loaded = SegmentationModel(segmenter.runner, source, segmenter)
    else:
        loaded = _open(model_or_file, backend, size, None, threads, None, batch, options, for_masks=False)
    with loaded:
        loaded.segmenter.resize_frames = resize_frames
        result = bench_segmenter(loaded.segmenter, warmup=warmup, iters=iters, duration=duration,
                                 end_to_end=end_to_end, images=images, pipelined=pipelined, progress=progress,
                                 source=loaded.source)
    return result.to_dict()


def end_to_end_segmenter(source, images=None, frame_graph=True, threads=None, label=None, options=None):
    """What end-to-end timing runs (`bench --end-to-end` and ``bench(end_to_end=True)``): a zoo model
    runs the exact frame graph for its frames' size (the first image's; synthetic frames at the
    network size without ``images``) unless ``frame_graph`` is False; a file runs as it is, with the
    one-line note of what its frame graph would gain (``label``: the file as the user named it)."""
    from espnet_edge.apps.frame_graph_choice import note_plain_graph, open_segmenter
    from espnet_edge.runtime.benchmark import synthetic_frames

    if images:
        first = images[0]
        frame = read_image(first) if isinstance(first, str) else first
    elif source.kind == "model":
        frame = synthetic_frames(source.size or source.entry.input_size, count=1)[0]
    else:
        frame = None
    segmenter = open_segmenter(source, frame, frame_graph=frame_graph, threads=threads, options=options,
                               label=label)
    if frame is None:  # synthetic frames come at the file's own frame (or network) size
        note_plain_graph(segmenter, segmenter.info.frame_size or segmenter.info.input_size, source, label)
    return segmenter


def bench_segmenter(segmenter, warmup=defaults.WARMUP, iters=None, duration=None, end_to_end=False, images=None,
                    pipelined=True, progress=True, label="bench", source=None):
    """The one benchmark behind `espnet-edge bench` and ``bench``: compute only (runtime.benchmark) or
    end to end (apps.e2e_bench, on ``images`` or synthetic frames at the graph's frame size), with the
    backend, model and host described -> BenchResult. ``source`` (backends.Source) names the files."""
    from espnet_edge.runtime.benchmark import host_details, run_benchmark, synthetic_frames

    info = segmenter.info
    if end_to_end:
        from espnet_edge.apps.e2e_bench import run_end_to_end

        result = run_end_to_end(segmenter, images or synthetic_frames(info.frame_size or info.input_size),
                                warmup=warmup, iters=iters, duration=duration, pipelined=pipelined,
                                progress=progress, label=label)
        if not images:
            result = result._replace(frames="synthetic")
    else:
        result = run_benchmark(segmenter, warmup=warmup, iters=iters, duration=duration, images=images,
                               progress=progress, label=label)
    runner = segmenter.runner
    description = runner.describe()
    choices = getattr(segmenter, "choices", None)
    return result._replace(backend=description.get("backend", runner.backend), model=info.name,
                           size="{}x{}".format(*info.input_size), runner=description,
                           model_details=_model_details(info, source), host=host_details(),
                           graph=list(choices) if choices else None)


def bench_at_clocks(segmenter, freqs=(), settle_timeout=defaults.SETTLE_TIMEOUT_S, on_result=None, label="bench",
                    **timing):
    """`espnet-edge bench [--freq ...]`: bench_segmenter once at the GPU clock as it is (``freqs`` empty),
    else once at each GPU clock of ``freqs`` (MHz; on a Jetson), pinned and settled (at most
    ``settle_timeout`` s) for its run and restored after it -> [BenchResult]. ``on_result(result)`` is
    called as each run ends; ``timing``: bench_segmenter's keywords (warmup, iters, end_to_end, ...)."""
    results = []
    if not freqs:
        results.append(bench_segmenter(segmenter, label=label, **timing))
        if on_result:
            on_result(results[-1])
        return results
    from espnet_edge.jetson.clocks import pin_gpu
    from espnet_edge.profiler.profile import settle_clock

    for mhz in freqs:
        with pin_gpu(mhz, dry_run=False) as pin:
            settle = settle_clock(pin.applied_mhz, timeout_s=settle_timeout)
            result = bench_segmenter(segmenter, label="{} @{}MHz".format(label, mhz), **timing)
            result = result._replace(settle=settle, freq_requested_mhz=pin.requested_mhz,
                                     freq_applied_mhz=pin.applied_mhz)
        results.append(result)
        if on_result:
            on_result(result)
    return results


def _model_details(info, source):
    details = {"name": info.name, "size": list(info.input_size), "batch": info.batch,
               "precision": info.precision, "fused": list(info.fused), "input_layout": info.input_layout,
               "classes": info.num_classes}
    if source is not None:
        if source.kind in ("onnx", "engine"):
            details[source.kind] = source.path
        if source.weights:
            details["weights"] = source.weights
    return details


# --- the commands' functions: each `espnet-edge COMMAND` parses its flags, calls one of these, prints ---
# Each imports its work when called: `import espnet_edge` stays free of numpy, OpenCV and TensorRT.

def _named(source):
    """A backends.SourceOptions from one (returned as it is), a zoo name / .onnx / engine spec, or None."""
    from espnet_edge.backends import SourceOptions

    if isinstance(source, SourceOptions):
        return source
    if not isinstance(source, str) and not hasattr(source, "__fspath__"):
        raise UserError("give a zoo model name, an .onnx file or an engine path (got {!r})".format(source))
    spec = _source(source, "auto", None, None, None, defaults.BATCH)
    return SourceOptions(model=spec.entry.name if spec.kind == "model" else None,
                         onnx=spec.path if spec.kind == "onnx" else None,
                         engine=spec.path if spec.kind == "engine" else None, backend=spec.backend)


def check_onnx(path, trt=defaults.TRT_CHECK_VERSION, support=None):
    """Will TensorRT ``trt``'s ONNX parser take the file? (`espnet-edge check-onnx`; node by node, no GPU)
    -> runtime.trt_support.OnnxCheck (``passed``, ``issues``, ``to_dict()``, ``lines()``). ``support``:
    an onnx_trt_operator_support.json (default: $ESPNET_EDGE_TRT_SUPPORT, else the built-in table)."""
    from espnet_edge.runtime.trt_support import check_file

    return check_file(os.fspath(path), trt, support)


def build(onnx, options=None, out=None, reuse=True, **fields):
    """Build (or reuse) a TensorRT engine from an espnet-edge ONNX file (`espnet-edge build`; on the board
    that runs it) -> runtime.tensorrt.builder.BuiltEngine (``engine``, ``report``). ``options``: a
    BuildOptions; its fields may also be given as keywords (``fp16=True``, ``int8=True, calib="frames/"``)."""
    from espnet_edge.runtime.tensorrt.build_options import BuildOptions
    from espnet_edge.runtime.tensorrt.builder import BuiltEngine, build_engine

    options = BuildOptions.make(options, **fields)
    return BuiltEngine.of(build_engine(onnx, options, out=out, reuse=reuse), options)


def inspect_engine(engine):
    """An engine checked against its sidecar and, where TensorRT and a GPU are here, against this machine
    (`build --inspect`) -> the sidecar dict with ``this_machine``."""
    from espnet_edge.runtime.tensorrt.engine_check import inspect_engine as check

    return check(engine)


def clocks():
    """The Jetson's clock state (`clocks show`): board, release, nvpmodel mode, each GPU's devfreq node,
    governor, table and current clock, the pins in force -> dict."""
    from espnet_edge.jetson.clock_report import clock_status

    return clock_status()


def pin_clock(mhz, dry_run=False):
    """Pin the GPU at the table step nearest ``mhz`` until ``restore_clocks()`` (`clocks set`) ->
    jetson.clock_report.PinResult."""
    from espnet_edge.jetson.clock_report import set_clock

    return set_clock(mhz, dry_run=dry_run)


def restore_clocks(dry_run=False):
    """Put back the GPU and memory clocks a pin saved (`clocks restore`) -> jetson.clock_report.RestoreResult."""
    from espnet_edge.jetson.clock_report import restore_clocks as restore

    return restore(dry_run=dry_run)


def read_tegrastats(path):
    """A tegrastats log from any Jetson (`espnet-edge tegrastats`; '-' reads stdin) -> one
    profiler.sample.Sample per line (``to_dict()``; what the parser does not know is in ``unknown``)."""
    from espnet_edge.profiler.tegrastats import read_log

    return read_log(os.fspath(path) if path != "-" else path)


def profile(source, measure=None, clock=None, out_dir=None, name=None, **fields):
    """One profiled run (`espnet-edge profile`): FPS, latency, power, energy per frame, utilisation ->
    profiler.run_record.RunSummary (``folder``: the run folder under ``out_dir``, default ./profiles).
    ``source``: a zoo name, .onnx or engine, or a backends.SourceOptions; ``measure``: a
    profiler.session.MeasureOptions, its fields also as keywords (``duration=5``); ``clock``: a
    ClockOptions (``freqs=(828,)`` pins the GPU for the run, on a Jetson)."""
    from espnet_edge.profiler import runs
    from espnet_edge.profiler.session import MeasureOptions

    return runs.profile(_named(source), MeasureOptions.make(measure, **fields), clock, out_dir, name)


def profile_kernels(source, out_dir=None, name=None, iters=None, measure=None, clock=None):
    """Kernel efficiency under nvprof/ncu at the GPU clock as it is (`profile --kernels`; ``iters``
    inferences, default profiler.runs.KERNEL_ITERS) -> (run folder, results dict)."""
    from espnet_edge.profiler import runs

    return runs.profile_kernels(_named(source), out_dir, name, iters or runs.KERNEL_ITERS, measure, clock)


def sweep(sources, freqs, measure=None, clock=None, out=None, **fields):
    """Profile each of ``sources`` (names, files or SourceOptions) at each GPU frequency of ``freqs`` (MHz;
    on a Jetson) into the new folder ``out``, then the table and Fig. 7 figures (`espnet-edge sweep`) ->
    profiler.runs.SweepResult (``folder``, ``runs``, ``report``, ``figures``)."""
    from espnet_edge.profiler import runs
    from espnet_edge.profiler.session import MeasureOptions

    return runs.sweep([_named(s) for s in sources], freqs, MeasureOptions.make(measure, **fields), clock, out)


def sweep_from_logs(folders, out=None):
    """The sweep's table and figures from recorded run folders (`sweep --from-logs`) -> SweepResult."""
    from espnet_edge.profiler import runs

    return runs.rebuild(folders, out)


def report(runs, out, power_freqs=None, kernels=(), accuracy=(), simulated=None):
    """Fig. 7 of the ESPNet paper (panels a-g, table, fig7.html, fig7.json) for N networks from recorded run
    folders ``runs`` (sweeps, profile runs or folders of them) into the new folder ``out`` (`espnet-edge
    report`) -> profiler.runs.ReportResult (``folder``, ``data``, ``runs``, ``figures``). ``power_freqs``:
    the two GPU clocks (MHz) of panels f and g; ``kernels``: kernels.json files; ``accuracy``: `eval --json`
    files; ``simulated`` True labels every panel simulated."""
    from espnet_edge.profiler import runs as recorded

    return recorded.report([os.fspath(f) for f in runs], os.fspath(out), power_freqs, list(kernels),
                           list(accuracy), simulated)


def demo(source, frames, capture=None, save=None, display=True, outputs=(), alpha=defaults.OVERLAY_ALPHA,
         max_frames=None, record_stats=None, realtime=False, resize_frames=False, frame_graph=True):
    """Live segmentation of ``frames`` (csi://N, /dev/videoN, a camera index, rtsp://, a video, an image
    folder or image) with legend and HUD, shown, saved (``save``) or served (``outputs``) (`espnet-edge
    demo`) -> apps.demo.DemoResult. ``capture``: an apps.sources.CaptureOptions."""
    from espnet_edge.apps import demo_run

    return demo_run.run(_named(source), frames, capture, save, display, outputs, alpha, max_frames,
                        record_stats, realtime, resize_frames, frame_graph)


def compare(artifacts, images, size=None, threads=None, weights=None, min_agreement=defaults.COMPARE_MIN_AGREEMENT,
            max_logit_diff=None, min_miou=None):
    """Run every artifact (a zoo name, .onnx or engine, optionally ``backend:``-prefixed) on ``images`` and
    compare each with the first (`espnet-edge compare`) -> apps.compare.CompareResult (``passed``,
    ``report``, ``failures``). ``size``: (width, height) or 'WxH' for zoo models; ``max_logit_diff``
    None: defaults.COMPARE_MAX_LOGIT_DIFF_FP32 where both are fp32, else not checked."""
    from espnet_edge.apps import compare as comparing

    return comparing.compare(artifacts, images, size=_size(size), threads=threads, weights=weights,
                             min_agreement=min_agreement, max_logit_diff=max_logit_diff, min_miou=min_miou)


def doctor():
    """What this machine offers (`espnet-edge doctor`) -> [apps.doctor.Check]."""
    from espnet_edge.apps.doctor import collect

    return collect()


def selftest(out):
    """The first-run self-test (`doctor --selftest`): a tiny TensorRT engine through every I/O path, the GPU
    clock, a dry-run pin, tegrastats and the power rails; written to ``out`` (JSON) -> the report dict."""
    from espnet_edge.apps.doctor import run_selftest

    return run_selftest(out)


def evaluate(source, data, format=None, split=None, ignore_index=None, limit=None, count_void=False):
    """mIoU, class average, per-class IoU of ``source`` (a zoo name with trained weights, .onnx, engine or
    backends.SourceOptions) on the labelled data set ``data`` (a folder, read by apps.datasets.open_dataset
    with ``format``/``split``/``ignore_index``, or a data set it opened) (`espnet-edge eval`) -> the result
    dict `eval --json` writes (apps.eval.evaluate, with ``backend`` and ``file``); images that could not be
    read are skipped and listed under ``failed``."""
    from espnet_edge.apps.eval import evaluate_source

    return evaluate_source(_named(source), data, format, split, ignore_index, limit, count_void)
