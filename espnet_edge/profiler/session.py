"""One profiled run, as `profile` and `sweep` make it: pin the GPU (and memory) clock where asked,
profile (profiler/profile.profile_run), write the run folder; the options checked before any work.

``options`` is any object with the measuring options as attributes (the CLI's argparse namespace):
``source``, ``interval`` (ms), ``idle`` (s), ``warmup``, ``duration`` (s), and optionally
``power_interval`` (ms), ``settle_timeout`` (s), ``emc`` (MHz) and the source fields ``model``,
``onnx``, ``engine``, ``backend``, ``size``, ``threads`` recorded in settings.json."""

import contextlib
import datetime
import os
import platform
import sys

from espnet_edge.errors import UserError


def source_label(options):
    """The run's name stem: the zoo model's name, else the file's name without its extension."""
    if getattr(options, "model", None):
        return options.model
    path = options.onnx or options.engine
    return os.path.splitext(os.path.basename(path))[0]


def settings_of(options, describe=None, freq=None):
    return {
        "command": "espnet-edge " + " ".join(sys.argv[1:]) if sys.argv else None,
        "created": datetime.datetime.now().isoformat(),
        "host": platform.node(), "platform": platform.platform(), "python": platform.python_version(),
        "model": getattr(options, "model", None), "onnx": getattr(options, "onnx", None),
        "engine": getattr(options, "engine", None), "backend": getattr(options, "backend", None),
        "size": getattr(options, "size", None), "threads": getattr(options, "threads", None),
        "idle_s": options.idle, "duration_s": options.duration, "warmup": options.warmup,
        "interval_ms": options.interval, "source": options.source,
        "power_interval_ms": getattr(options, "power_interval", None), "emc_mhz": getattr(options, "emc", None),
        "gpu_freq": freq, "runner": describe,
        # a simulated board (tests, demos): sysfs read from a prefix; `report` labels such runs simulated
        "simulated": bool(os.environ.get("ESPNET_EDGE_SYSFS_ROOT")),
    }


@contextlib.contextmanager
def pinned(freq_mhz):
    """pin_gpu(freq) when a frequency is asked for, else nothing; yields the freq facts (or None)."""
    if not freq_mhz:
        yield None
        return
    from espnet_edge.jetson.clocks import pin_gpu

    with pin_gpu(freq_mhz) as pin:
        yield {"requested_mhz": pin.requested_mhz, "applied_mhz": pin.applied_mhz}


@contextlib.contextmanager
def pinned_emc(emc_mhz):
    """pin_emc(MHz) when asked for, else nothing; yields {'requested_mhz', 'applied_mhz'} or None."""
    if not emc_mhz:
        yield None
        return
    from espnet_edge.jetson.emc import pin_emc

    with pin_emc(emc_mhz) as pin:
        yield {"requested_mhz": pin.requested_mhz, "applied_mhz": pin.applied_mhz}


def check_measuring_options(options):
    """Validate the measuring options before any work starts."""
    if getattr(options, "power_interval", 10) is not None and options.power_interval < 0:
        raise UserError("--power-interval must be >= 0 ms (0 = tegrastats only)")
    if getattr(options, "settle_timeout", 10.0) < 0:
        raise UserError("--settle-timeout must be >= 0 seconds")
    if getattr(options, "emc", None) is not None:
        if options.emc <= 0:
            raise UserError("--emc must be a positive memory clock in MHz")
        from espnet_edge.jetson import emc as emc_module

        with emc_module.pin_emc(options.emc, log=None, dry_run=True):
            pass


def profile_one(options, segmenter, out_dir, label, freq_mhz=None, name=None, exact=False):
    """Pin (optionally), profile, write the run folder; returns (folder, run_record.RunSummary)."""
    from espnet_edge.profiler.profile import new_run_dir, profile_run, release_run_dir, run_name, write_run
    from espnet_edge.profiler.run_record import Pin

    target = new_run_dir(out_dir, name or run_name(label, freq_mhz), exact=exact)
    try:
        power_samples = []
        with pinned(freq_mhz) as freq, pinned_emc(getattr(options, "emc", None)) as emc:
            summary, samples, raw = profile_run(
                segmenter, source=options.source, interval_ms=options.interval, idle_s=options.idle,
                warmup=options.warmup, duration_s=options.duration,
                power_interval_ms=getattr(options, "power_interval", None),
                pinned_mhz=freq["applied_mhz"] if freq else None,
                settle_timeout_s=getattr(options, "settle_timeout", 10.0), power_samples_out=power_samples)
        describe = None
        try:
            describe = segmenter.runner.describe()
        except Exception:  # noqa: BLE001 - a runner that cannot describe itself still gets its run
            pass
        summary = summary._replace(emc_pin=Pin.make(**emc) if emc else None, run=os.path.basename(target),
                                   label=label, gpu_freq=Pin.make(**freq) if freq else None, runner=describe,
                                   folder=target)
        write_run(target, summary, samples, raw, settings_of(options, describe, freq), power_samples=power_samples)
    except BaseException:
        release_run_dir(target)
        raise
    return target, summary
