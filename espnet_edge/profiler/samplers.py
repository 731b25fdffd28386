"""Samplers: background threads that collect one record per interval, each stamped with time.time().

Every sampler yields ``Sample`` records (profiler/sample.py) stamped with ``t`` (arrival time, seconds
since the epoch), so profile/sweep code does not care where they came from:
  TegrastatsSampler  runs ``tegrastats --interval N`` (or $ESPNET_EDGE_TEGRASTATS) and parses its lines
  JtopSampler        reads jetson-stats (jtop) where it is installed
  HostSampler        psutil (CPU, memory), NVML (GPU power/load/clocks), RAPL (CPU package energy)
"""

import errno
import os
import shutil
import threading
import time

from espnet_edge import defaults
from espnet_edge.errors import MissingDependency, UserError
from espnet_edge.profiler import tegrastats
from espnet_edge.profiler.sample import Sample, empty_fields

ENV_TEGRASTATS = "ESPNET_EDGE_TEGRASTATS"
_STANDARD_PATHS = ("/usr/bin/tegrastats", "/usr/local/bin/tegrastats")


def find_tegrastats():
    """Path of the tegrastats executable to run, or None when there is none here."""
    named = os.environ.get(ENV_TEGRASTATS)
    if named:
        return named
    found = shutil.which("tegrastats")
    if found:
        return found
    for candidate in _STANDARD_PATHS:
        if os.path.isfile(candidate):
            return candidate
    return None


class Sampler(object):
    source = "none"
    missing = ()  # figures this sampler cannot give here (HostSampler fills its own list)

    def __init__(self, interval_ms=defaults.SAMPLE_INTERVAL_MS):
        if interval_ms < 1:
            raise UserError("sampling interval must be at least 1 ms (got {})".format(interval_ms))
        self.interval_ms = int(interval_ms)
        self.samples = []
        self.lock = threading.Lock()
        self.warnings = []
        self.failure = None   # one line: why the sampler stopped delivering (its thread failed)
        # "no sample in N s" while running stops the run (the clock is restored by whoever pinned it)
        self.stall_s = max(3.0, 5 * self.interval_ms / 1000.0)
        self._last_sample = None   # time.monotonic() of the newest sample

    def snapshot(self):
        with self.lock:
            return list(self.samples)

    def _add(self, record):
        with self.lock:
            self.samples.append(record)
            self._last_sample = time.monotonic()

    def wait_first(self, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.samples:
                return True
            self._check_alive()
            time.sleep(0.01)
        return bool(self.samples)

    def _check_alive(self):
        if self.failure:
            raise UserError(self.failure)

    def _exit_reason(self):
        """Why the source behind the sampler stopped (a child that exited), else None."""

    def exited_early(self):
        """None while samples keep coming, else one line: the reader failed, the source stopped, or no
        sample arrived for ``stall_s`` seconds although it runs."""
        if self.failure:
            return self.failure
        early = self._exit_reason()
        if early:
            return early
        last = self._last_sample
        if last is not None and time.monotonic() - last > self.stall_s:
            return self._stall_message(time.monotonic() - last)
        return None

    def _stall_message(self, silent_s):
        return "the {} sampler delivered no sample for {:.0f} s (every {} ms expected); stopped the run".format(
            self.source, silent_s, self.interval_ms)

    def check(self):
        """UserError with ``exited_early()`` when there is one: call it while the run goes on."""
        problem = self.exited_early()
        if problem:
            raise UserError(problem)

    def raw_log_text(self):
        """The raw output the samples were parsed from, when there is one (tegrastats)."""

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False


class TegrastatsSampler(Sampler):
    """Spawn tegrastats, read its stdout on a thread (profiler/child_output.py: any bytes are decoded,
    none kills the reader), parse and timestamp every line."""

    source = "tegrastats"

    def __init__(self, interval_ms=defaults.SAMPLE_INTERVAL_MS, executable=None, raw_log=None):
        Sampler.__init__(self, interval_ms)
        self.executable = executable or find_tegrastats()
        self.raw_lines = []  # (arrival time, line) as printed
        self.child = None
        self.stopping = False
        self.exit_code = None
        self.stderr_text = ""
        self.ignored = 0

    proc = property(lambda self: self.child.proc if self.child is not None else None)

    def start(self):
        from espnet_edge.profiler.child_output import ChildLines

        if not self.executable:
            raise UserError("tegrastats not found (not on PATH, not in /usr/bin); on a Jetson install "
                            "nvidia-l4t-tools, elsewhere use --source host, or set {} to an "
                            "executable".format(ENV_TEGRASTATS))
        self.child = ChildLines([self.executable, "--interval", str(self.interval_ms)], self._on_line, "tegrastats")
        try:
            self.child.start()
        except PermissionError:
            raise UserError("no permission to run {}; make it executable or run as a user who "
                            "may (sudo)".format(self.executable))
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                raise UserError("tegrastats executable {} does not exist; fix {} or install "
                                "nvidia-l4t-tools".format(self.executable, ENV_TEGRASTATS))
            raise UserError("cannot start {}: {}".format(self.executable, exc.strerror or exc))
        try:
            if not self.wait_first(self.stall_s):
                raise UserError(self._stall_message(self.stall_s))
        except BaseException:
            self.stop()
            raise
        return self

    def _on_line(self, now, line):
        record = tegrastats.parse_line(line)._replace(t=now)
        with self.lock:
            self.raw_lines.append((now, line))
            if tegrastats.is_sample(record):
                self.samples.append(record)
                self._last_sample = time.monotonic()
            else:
                self.ignored += 1
                if self.ignored <= 3:
                    self.warnings.append("ignored a line that is not tegrastats output: {!r}".format(line[:80]))

    def _check_alive(self):
        if self.child is not None and self.child.failure:
            raise UserError(self.child.failure)
        if self.proc is not None and self.proc.poll() is not None and not self.stopping:
            self.child.join(1.0)
            raise UserError(self._early_exit_message())

    def _stall_message(self, silent_s):
        child = self.child
        alive = child is not None and child.poll() is None
        heard = ""
        if self.ignored:
            heard = "; the {} line(s) it printed are not tegrastats output (e.g. {!r})".format(
                self.ignored, next((l for _t, l in reversed(self.raw_lines)), "")[:60])
        return "tegrastats printed no sample line in {:.0f} s{}{}; the run is stopped (check it by hand: `{} " \
               "--interval {}`)".format(silent_s, " although it is running (PID {})".format(child.proc.pid)
                                        if alive else "", heard, self.executable, self.interval_ms)

    def _early_exit_message(self):
        self.child.join(1.0)
        err = self.stderr_text = self.child.stderr_text
        first = next((line.strip() for line in err.splitlines() if line.strip()), "")
        code = self.proc.returncode
        if "ermission" in err or "not permitted" in err or code in (126,):
            return ("tegrastats could not read what it needs (no permission: {}); run as root "
                    "(sudo) for clocks and power".format(first or "exit code {}".format(code)))
        return "tegrastats exited early with code {}{}; run `{} --interval {}` by hand to see why".format(
            code, (": " + first) if first else "", self.executable, self.interval_ms)

    def _exit_reason(self):
        if self.child is not None and self.child.failure:
            return self.child.failure
        if self.proc is None or self.stopping:
            return None
        if self.proc.poll() is not None:
            return self._early_exit_message()
        return None

    def stop(self):
        if self.child is None or self.stopping:
            return
        early = self._exit_reason()
        if early:
            self.warnings.append(early)
        self.stopping = True
        self.exit_code = self.child.stop()
        self.stderr_text = self.child.stderr_text
        if self.child.undecodable:
            self.warnings.append("{} tegrastats line(s) held bytes that are not UTF-8 (kept with U+FFFD in "
                                 "their place)".format(self.child.undecodable))
        if self.ignored > 3:
            self.warnings.append("ignored {} lines that are not tegrastats output in all".format(self.ignored))
        self._check_bursts()

    def _check_bursts(self):
        """Lines should arrive one per interval; bursts mean a buffered pipe and coarse timestamps."""
        times = [t for t, _line in self.raw_lines]
        gaps = sorted(b - a for a, b in zip(times, times[1:]))
        if len(gaps) >= 5 and gaps[len(gaps) // 2] < self.interval_ms / 4000.0:
            self.warnings.append("tegrastats lines arrived in bursts (median gap {:.1f} ms for a {} ms "
                                 "interval): the pipe was buffered, so phase boundaries are only as "
                                 "precise as the bursts".format(gaps[len(gaps) // 2] * 1000, self.interval_ms))

    def raw_log_text(self):
        with self.lock:
            return "".join(line + "\n" for _t, line in self.raw_lines)


class _PollingSampler(Sampler):
    """Calls ``self.read()`` every interval on a thread."""

    def __init__(self, interval_ms=defaults.SAMPLE_INTERVAL_MS):
        Sampler.__init__(self, interval_ms)
        self._stop = threading.Event()
        self.thread = None
        self.error = None

    def start(self):
        self.open()
        self.thread = threading.Thread(target=self._loop, name=self.source + "-sampler")
        self.thread.daemon = True
        self.thread.start()
        if not self.wait_first(max(3.0, 5 * self.interval_ms / 1000.0)):
            self.stop()
            raise UserError("the {} sampler produced no sample{}".format(
                self.source, ": " + str(self.error) if self.error else ""))
        return self

    def _loop(self):
        period = self.interval_ms / 1000.0
        next_at = time.time()
        while not self._stop.is_set():
            try:
                record = self.read()
            except Exception as exc:  # keep sampling; report once
                if self.error is None:
                    self.error = exc
                    self.warnings.append("{} sampler: {}".format(self.source, exc))
                record = None
            if record is not None:
                self._add(record._replace(t=time.time()))
            next_at += period
            self._stop.wait(max(0.0, next_at - time.time()))

    def stop(self):
        self._stop.set()
        if self.thread is not None:
            self.thread.join(3)
        self.close()

    def open(self):
        pass

    def close(self):
        pass


class JtopSampler(_PollingSampler):
    """jetson-stats (``pip install jetson-stats``): the jtop service's view of the board."""

    source = "jtop"

    def open(self):
        try:
            from jtop import jtop
        except ImportError:
            raise MissingDependency("jetson-stats is not installed; `pip install jetson-stats` "
                                    "or use --source tegrastats")
        self.jetson = jtop(interval=max(self.interval_ms / 1000.0, 0.1))
        try:
            self.jetson.start()
        except Exception as exc:  # jtop raises JtopException when its service is not running
            raise UserError("cannot connect to the jtop service ({}); `sudo systemctl restart jtop` "
                            "or use --source tegrastats".format(exc))

    def read(self):
        if not self.jetson.ok():
            return None
        return jtop_record(self.jetson.stats)

    def close(self):
        jetson = getattr(self, "jetson", None)
        if jetson is not None:
            try:
                jetson.close()
            except Exception:
                pass


def jtop_record(stats):
    """jtop's flat ``stats`` dict (CPU1.., RAM, GPU, Temp X, Power X) -> a Sample."""
    record = empty_fields()
    cores = []
    index = 1
    while "CPU{}".format(index) in stats:
        value = stats["CPU{}".format(index)]
        cores.append(None if value in ("OFF", "off", None) else {"load_pct": value, "freq_mhz": None})
        index += 1
    record["cpu"] = cores or None
    ram = stats.get("RAM")
    if isinstance(ram, (int, float)):
        record["ram_used_mb"] = ram * 1024.0 if ram < 64 else ram
    for key, value in stats.items():
        if key.startswith("GPU") and isinstance(value, (int, float)):
            record["gpu_loads_pct"].append(value)
            if record["gpu_load_pct"] is None:
                record["gpu_load_pct"] = value
        elif key.startswith("Temp ") and isinstance(value, (int, float)):
            record["temps_c"][key[5:]] = None if value <= tegrastats.NO_READING_C else value
        elif key.startswith("Power ") and isinstance(value, (int, float)) and key != "Power TOT":
            record["rails_mw"][key[6:]] = {"current": value, "average": None}
        elif key == "EMC" and isinstance(value, (int, float)):
            record["emc_load_pct"] = value
    return Sample(**record)


class HostSampler(_PollingSampler):
    """Any Linux machine: psutil for CPU and memory, NVML for an NVIDIA GPU, RAPL for the CPU package."""

    source = "host"

    def __init__(self, interval_ms=defaults.SAMPLE_INTERVAL_MS):
        _PollingSampler.__init__(self, interval_ms)
        self.psutil = None
        self.nvml = None
        self.gpu = None
        self.rapl = []  # [name, path, max_range_uj, last_uj, last_t]
        self.missing = []

    def open(self):
        try:
            import psutil
            self.psutil = psutil
            psutil.cpu_percent(percpu=True)  # prime the counters
        except ImportError:
            self.missing.append("CPU load and memory (psutil is not installed: pip install psutil)")
        self._open_nvml()
        self._open_rapl()

    def _open_nvml(self):
        try:
            import pynvml
        except ImportError:
            self.missing.append("GPU power/load/clocks (nvidia-ml-py is not installed)")
            return
        try:
            pynvml.nvmlInit()
            self.gpu = pynvml.nvmlDeviceGetHandleByIndex(0)
            self.nvml = pynvml
        except Exception as exc:
            self.missing.append("GPU power/load/clocks (no NVIDIA GPU through NVML: {})".format(
                str(exc) or type(exc).__name__))

    def _open_rapl(self):
        from espnet_edge.jetson import sysfs

        base = sysfs.path("/sys/class/powercap")
        try:
            names = sorted(os.listdir(base))
        except OSError:
            names = []
        for name in names:
            if not name.startswith("intel-rapl:") or name.count(":") != 1:
                continue  # packages only; sub-zones (core, uncore, dram) are inside them
            folder = os.path.join(base, name)
            energy = sysfs.read_text(os.path.join(folder, "energy_uj"))
            if energy is None or not energy.isdigit():
                continue
            label = sysfs.read_text(os.path.join(folder, "name"), name) or name
            top = sysfs.read_text(os.path.join(folder, "max_energy_range_uj"), "0")
            self.rapl.append([
                "RAPL_" + label, os.path.join(folder, "energy_uj"),
                int(top) if top.isdigit() else 0, int(energy), time.time()])
        if not self.rapl:
            self.missing.append("CPU package power (no readable RAPL counters in /sys/class/powercap; "
                                "they are root-only on recent kernels)")

    def read(self):
        record = empty_fields()
        if self.psutil is not None:
            self._read_psutil(record)
        if self.nvml is not None:
            self._read_nvml(record)
        self._read_rapl(record)
        return Sample(**record)

    def _read_psutil(self, record):
        psutil = self.psutil
        loads = psutil.cpu_percent(percpu=True)
        try:
            freqs = psutil.cpu_freq(percpu=True) or []
        except Exception:
            freqs = []
        record["cpu"] = [{"load_pct": load,
                          "freq_mhz": round(freqs[i].current) if i < len(freqs) and freqs[i] else None}
                         for i, load in enumerate(loads)]
        mem = psutil.virtual_memory()
        record["ram_used_mb"] = round((mem.total - mem.available) / 1048576.0, 1)
        record["ram_total_mb"] = round(mem.total / 1048576.0, 1)
        swap = psutil.swap_memory()
        record["swap_used_mb"] = round(swap.used / 1048576.0, 1)
        record["swap_total_mb"] = round(swap.total / 1048576.0, 1)
        try:
            for name, entries in (psutil.sensors_temperatures() or {}).items():
                if entries:
                    record["temps_c"][name] = entries[0].current
        except Exception:
            pass

    def _read_nvml(self, record):
        nvml, gpu = self.nvml, self.gpu
        util = nvml.nvmlDeviceGetUtilizationRates(gpu)
        record["gpu_load_pct"] = util.gpu
        record["gpu_loads_pct"] = [util.gpu]
        record["emc_load_pct"] = util.memory
        record["gpu_freq_mhz"] = [nvml.nvmlDeviceGetClockInfo(gpu, nvml.NVML_CLOCK_GRAPHICS)]
        record["emc_freq_mhz"] = nvml.nvmlDeviceGetClockInfo(gpu, nvml.NVML_CLOCK_MEM)
        try:
            power = nvml.nvmlDeviceGetPowerUsage(gpu)  # mW
            record["rails_mw"]["NVML_GPU"] = {"current": power, "average": None}
        except Exception:
            pass
        try:
            record["temps_c"]["gpu"] = nvml.nvmlDeviceGetTemperature(gpu, nvml.NVML_TEMPERATURE_GPU)
        except Exception:
            pass

    def _read_rapl(self, record):
        from espnet_edge.jetson import sysfs

        now = time.time()
        for zone in self.rapl:
            name, path, top, last, last_t = zone
            text = sysfs.read_text(path)
            if text is None or not text.isdigit():
                continue
            value = int(text)
            delta = value - last
            if delta < 0 and top:
                delta += top  # the counter wrapped
            if now > last_t and delta >= 0:
                record["rails_mw"][name] = {"current": round(delta / 1000.0 / (now - last_t), 1),
                                            "average": None}
            zone[3], zone[4] = value, now

    def close(self):
        if self.nvml is not None:
            try:
                self.nvml.nvmlShutdown()
            except Exception:
                pass
            self.nvml = None


SOURCES = ("auto", "tegrastats", "jtop", "host")


def make_sampler(source="auto", interval_ms=defaults.SAMPLE_INTERVAL_MS):
    """auto: tegrastats when there is one (Jetson, or $ESPNET_EDGE_TEGRASTATS), else the host sampler."""
    if source not in SOURCES:
        raise UserError("unknown sampler source {!r}; choose one of {}".format(source, ", ".join(SOURCES)))
    if source == "auto":
        source = "tegrastats" if find_tegrastats() else "host"
    if source == "tegrastats":
        return TegrastatsSampler(interval_ms)
    if source == "jtop":
        return JtopSampler(interval_ms)
    return HostSampler(interval_ms)
