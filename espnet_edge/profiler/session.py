"""One profiled run, as `profile` and `sweep` make it: pin the GPU (and memory) clock where asked,
profile (profiler/profile.profile_run), write the run folder; the options checked before any work.

How a run measures is a MeasureOptions, how it pins the clocks a ClockOptions (the CLI's "measuring" and
"GPU clocks" flags: cli/args.measure_options / clock_options), what it runs a backends.SourceOptions
(recorded in settings.json). A measuring flag that profile and sweep share is its add_argument in
cli/args.add_profiling_args and its field and use here: nothing else reads it."""

import contextlib
import datetime
import logging
import os
import platform
import sys
from typing import NamedTuple, Optional, Tuple

from espnet_edge import defaults
from espnet_edge.errors import UserError
from espnet_edge.jetson.clocks import check_pinnable, pin_gpu
from espnet_edge.jetson.emc import pin_emc
from espnet_edge.profiler.profile import default_out_dir, profile_run, run_name, write_run
from espnet_edge.profiler.run_folders import check_run_name, new_run_dir, release_run_dir
from espnet_edge.profiler.run_record import Pin
from espnet_edge.utils.atomic import check_output_dir
from espnet_edge.utils.options import Options

log = logging.getLogger(__name__)


class MeasureOptions(Options, NamedTuple("MeasureOptions", [
        ("idle", float), ("duration", float), ("warmup", int), ("interval", int), ("source", str),
        ("power_interval", int), ("max_temp", Optional[float])])):
    """idle: idle baseline before the run (s); duration: the measured phase (s); warmup: untimed inferences
    first; interval: sampling interval (ms); source: where samples come from (profiler.samplers.SOURCES:
    auto, tegrastats, jtop, host); power_interval: the input-power node's interval (ms; 0 = tegrastats only);
    max_temp: refuse a run whose GPU got hotter than this (degrees C) in the measured phase (None: keep every run)."""
    __slots__ = ()


MeasureOptions.__new__.__defaults__ = (defaults.PROFILE_IDLE_S, defaults.PROFILE_DURATION_S, defaults.WARMUP,
                                       defaults.SAMPLE_INTERVAL_MS, defaults.SAMPLE_SOURCE,
                                       defaults.POWER_INTERVAL_MS, None)


class ClockOptions(Options, NamedTuple("ClockOptions", [
        ("freqs", Tuple[int, ...]), ("emc", Optional[int]), ("settle_timeout", float)])):
    """freqs: GPU clocks to pin in turn (MHz; empty: the clock as it is); emc: the memory clock to pin (MHz)
    or None; settle_timeout: after pinning, wait at most this many seconds for the clock to read back and
    board power to settle."""
    __slots__ = ()


ClockOptions.__new__.__defaults__ = ((), None, defaults.SETTLE_TIMEOUT_S)


def settings_of(measure, clock, source, describe=None, freq=None):
    """settings.json: the command line, the machine, what ran (``source``: a SourceOptions) and how."""
    return {
        "command": "espnet-edge " + " ".join(sys.argv[1:]) if sys.argv else None,
        "created": datetime.datetime.now().isoformat(),
        "host": platform.node(), "platform": platform.platform(), "python": platform.python_version(),
        "model": source.model, "onnx": source.onnx, "engine": source.engine, "backend": source.backend,
        "size": "{}x{}".format(*source.size) if source.size else None, "threads": source.threads,
        "idle_s": measure.idle, "duration_s": measure.duration, "warmup": measure.warmup,
        "interval_ms": measure.interval, "source": measure.source,
        "power_interval_ms": measure.power_interval, "emc_mhz": clock.emc, "max_temp_c": measure.max_temp,
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
    with pin_gpu(freq_mhz) as pin:
        yield {"requested_mhz": pin.requested_mhz, "applied_mhz": pin.applied_mhz}


@contextlib.contextmanager
def pinned_emc(emc_mhz):
    """pin_emc(MHz) when asked for, else nothing; yields {'requested_mhz', 'applied_mhz'} or None."""
    if not emc_mhz:
        yield None
        return
    with pin_emc(emc_mhz) as pin:
        yield {"requested_mhz": pin.requested_mhz, "applied_mhz": pin.applied_mhz}


def check_measuring_options(measure, clock):
    """Validate the measuring and clock options before any work starts (the CLI's parser checked the
    types; a library caller gets the same lines)."""
    if measure.interval < 1:
        raise UserError("--interval must be at least 1 ms")
    if measure.idle < 0 or measure.duration <= 0:
        raise UserError("--idle must be >= 0 and --duration > 0 seconds")
    if measure.power_interval is not None and measure.power_interval < 0:
        raise UserError("--power-interval must be >= 0 ms (0 = tegrastats only)")
    if measure.max_temp is not None and measure.max_temp <= 0:
        raise UserError("--max-temp must be a temperature above 0 degrees C")
    if clock.settle_timeout < 0:
        raise UserError("--settle-timeout must be >= 0 seconds")
    if clock.emc is not None:
        if clock.emc <= 0:
            raise UserError("--emc must be a positive memory clock in MHz")
        with pin_emc(clock.emc, log=None, dry_run=True):
            pass


def check_temperature(summary, max_temp):
    """--max-temp: a run whose GPU got hotter than ``max_temp`` under load is refused (one line; the caller
    gives its folder back). Without a GPU temperature reading the run is kept, with a warning."""
    if max_temp is None:
        return
    peak = summary.thermal.gpu_max_c if summary.thermal else None
    if peak is None:
        log.warning("--max-temp %g C not checked: no GPU temperature was read in the measured phase (tegrastats "
                    "gives it)", max_temp)
    elif peak > max_temp:
        raise UserError("the GPU reached {:g} C under load, above --max-temp {:g} C, so this run is not kept: let "
                        "the board cool (or raise --max-temp) and run it again".format(peak, max_temp))


def profile_one(segmenter, out_dir, label, measure, clock, source, freq_mhz=None, name=None, exact=False):
    """Pin (optionally), profile, write the run folder; returns (folder, run_record.RunSummary).
    ``source``: the SourceOptions that opened ``segmenter`` (settings.json)."""
    target = new_run_dir(out_dir, name or run_name(label, freq_mhz), exact=exact)
    try:
        power_samples = []
        with pinned(freq_mhz) as freq, pinned_emc(clock.emc) as emc:
            summary, samples, raw = profile_run(
                segmenter, source=measure.source, interval_ms=measure.interval, idle_s=measure.idle,
                warmup=measure.warmup, duration_s=measure.duration, power_interval_ms=measure.power_interval,
                pinned_mhz=freq["applied_mhz"] if freq else None, settle_timeout_s=clock.settle_timeout,
                power_samples_out=power_samples)
        check_temperature(summary, measure.max_temp)
        describe = None
        try:
            describe = segmenter.runner.describe()
        except Exception:  # noqa: BLE001 - a runner that cannot describe itself still gets its run
            pass
        summary = summary._replace(emc_pin=Pin.make(**emc) if emc else None, run=os.path.basename(target),
                                   label=label, gpu_freq=Pin.make(**freq) if freq else None, runner=describe,
                                   folder=target)
        write_run(target, summary, samples, raw, settings_of(measure, clock, source, describe, freq),
                  power_samples=power_samples)
    except BaseException:
        release_run_dir(target)
        raise
    return target, summary


def check_profile(named, measure, clock, out_dir, name, kernels_run=False):
    """Everything a profiled run (``kernels_run``: a kernel profile) asks for, before any work -> (the
    resolved Source, the run's parent folder, the GPU clock to pin or None)."""
    check_measuring_options(measure, clock)
    source = named.resolve()
    if name is not None:
        check_run_name(name)
    out_dir = check_output_dir(os.path.abspath(out_dir or default_out_dir()), "--out")
    if kernels_run and clock.freqs:
        raise UserError("--kernels runs at the current GPU clock; pin it first with `espnet-edge clocks`, "
                        "or drop --freq")
    if len(clock.freqs) > 1:
        raise UserError("a profiled run pins one GPU clock; a sweep runs several (--freqs)")
    freq = clock.freqs[0] if clock.freqs else None
    if freq:
        check_pinnable([freq])
    return source, out_dir, freq
