"""Pin the Jetson GPU to one devfreq table frequency and always put it back.

API used by bench/profile/sweep:
    parse_freq_list("824,1134") -> [824, 1134]
    with pin_gpu(824) as pin:        # pin.requested_mhz == 824, pin.applied_mhz == 828.75 on a TX2
        ...
Pinning = writing the same table value to min_freq and max_freq, in an order that never leaves
min > max (the kernel rejects that), with the governor set to "performance" when the kernel offers it.
The previous min/max/governor come back on normal exit, exceptions, SIGINT, SIGTERM and SIGHUP (a
signal arriving during a write sequence is acted on after it). Before the first sysfs write the
original state is saved (jetson/clock_state.py), so `espnet-edge clocks restore` undoes a pin whose
process was killed outright (SIGKILL, OOM killer); the next pin finding such a leftover restores it first.
"""

import errno
import fcntl
import logging
import os
import signal
import sys
import threading
import time

from espnet_edge.errors import UserError
from espnet_edge.jetson import boards, clock_state, detect, nvpmodel, sysfs

logger = logging.getLogger(__name__)
# log= of the pins and writers: LOGGER (this module's logger), None (silent) or a stream (tests, self-test)
LOGGER = "logger"

NOT_JETSON = "not a Jetson (no GPU devfreq under /sys/class/devfreq): --freq needs a Jetson board"
LOCK_PATHS = ("/run/lock/espnet-edge-gpu-clock.lock", "/tmp/espnet-edge-gpu-clock.lock")
STATE_PATH = clock_state.STATE_PATH
PIN_GOVERNOR = "performance"
RANGE_SLACK_MHZ = 1.0   # users type whole MHz: 114 still means the 114.75 MHz bottom step
SIGNAL_EXIT = {signal.SIGTERM: 128 + signal.SIGTERM, signal.SIGHUP: 128 + signal.SIGHUP}
UDEV_EXAMPLE = ('SUBSYSTEM=="devfreq", KERNEL=="{name}", '
                'RUN+="/bin/chmod 0666 /sys%p/min_freq /sys%p/max_freq /sys%p/governor"')


def mhz(hz):
    return hz / 1e6


def fmt_mhz(hz):
    return "{:g} MHz".format(round(mhz(hz), 3))


def parse_freq_list(text):
    """'824,1134' -> [824, 1134] (MHz, ints). UserError for empty items, non-numbers, <= 0, duplicates."""
    if text is None or not str(text).strip():
        raise UserError("empty frequency list: give MHz values like --freq 824,1134")
    values = []
    for item in str(text).split(","):
        item = item.strip()
        if not item:
            raise UserError("malformed frequency list {!r}: empty item; write MHz values separated by "
                            "commas, e.g. 824,1134".format(text))
        try:
            number = float(item)
        except ValueError:
            raise UserError("malformed frequency list {!r}: {!r} is not a number of MHz; "
                            "e.g. 824,1134".format(text, item))
        if number != number or number in (float("inf"), float("-inf")) or number != int(number):
            raise UserError("frequency {!r} in {!r} must be a whole number of MHz, e.g. 824".format(item, text))
        if number <= 0:
            raise UserError("frequency {!r} in {!r} must be positive (MHz)".format(item, text))
        if int(number) in values:
            raise UserError("frequency {} MHz appears twice in {!r}; list each once".format(int(number), text))
        values.append(int(number))
    return values


def snap_to_table(freq_mhz, table_hz):
    """Nearest table step (Hz) to ``freq_mhz``; UserError outside the table's range."""
    if not table_hz:
        raise UserError("the GPU devfreq available_frequencies table is empty; cannot choose a step")
    low, high = min(table_hz), max(table_hz)
    if freq_mhz < mhz(low) - RANGE_SLACK_MHZ or freq_mhz > mhz(high) + RANGE_SLACK_MHZ:
        raise UserError("{} MHz is outside this GPU's range {}..{}; choose a value in it "
                        "(espnet-edge clocks show lists the steps)".format(freq_mhz, fmt_mhz(low), fmt_mhz(high)))
    return min(table_hz, key=lambda hz: (abs(hz - freq_mhz * 1e6), hz))


def plan_minmax_writes(cur_min, cur_max, new_min, new_max):
    """Writes [(file, Hz)] taking (cur_min, cur_max) to (new_min, new_max) with min <= max after each one.

    Going down (new_min <= cur_max) write min first, then max; going up write max first, then min."""
    if new_min > new_max:
        raise ValueError("target min {} > max {}".format(new_min, new_max))
    if new_min <= cur_max:
        writes = [("min_freq", new_min, cur_min), ("max_freq", new_max, cur_max)]
    else:
        writes = [("max_freq", new_max, cur_max), ("min_freq", new_min, cur_min)]
    return [(name, value) for name, value, now in writes if value != now]


def _read_int(path):
    text = sysfs.read_text(path)
    if text is None:
        if os.path.exists(path):
            raise UserError("cannot read {}: permission denied or not a file; run with sudo".format(
                sysfs.unprefix(path)))
        raise UserError("{} is missing: this kernel's GPU devfreq lacks it, cannot pin the clock".format(
            sysfs.unprefix(path)))
    try:
        return int(text.split()[0])
    except (ValueError, IndexError):
        raise UserError("{} holds {!r}, not a frequency in Hz".format(sysfs.unprefix(path), text))


def _read_cur_hz(gpu):
    """cur_freq in Hz, or None when it is missing or not a number."""
    return sysfs.read_hz(gpu.file("cur_freq"))


class GpuState(object):
    """What one devfreq entry reads now."""

    def __init__(self, gpu):
        self.gpu = gpu
        table_text = sysfs.read_text(gpu.file("available_frequencies"))
        if table_text is None:
            _read_int(gpu.file("available_frequencies"))  # raises the missing/unreadable error
        try:
            self.table = sorted(set(int(v) for v in table_text.split()))
        except ValueError:
            raise UserError("{} is not a list of Hz values".format(
                sysfs.unprefix(gpu.file("available_frequencies"))))
        self.min_hz = _read_int(gpu.file("min_freq"))
        self.max_hz = _read_int(gpu.file("max_freq"))
        self.cur_hz = _read_cur_hz(gpu)
        self.governor = sysfs.read_text(gpu.file("governor"))
        self.governors = (sysfs.read_text(gpu.file("available_governors")) or "").split()

    def to_dict(self):
        return {"devfreq": sysfs.unprefix(self.gpu.freq_dir), "node": self.gpu.node_name,
                "governor": self.governor, "available_governors": self.governors,
                "available_mhz": [mhz(hz) for hz in self.table], "min_mhz": mhz(self.min_hz),
                "max_mhz": mhz(self.max_hz), "cur_mhz": mhz(self.cur_hz) if self.cur_hz is not None else None}


class WriteRejected(UserError):
    pass


class SysfsWriter(object):
    """Writes one value to one sysfs file; ``hook(path, value)`` runs first (a simulated kernel may raise
    OSError there); every attempted write is appended to ``journal`` as (board path, value). ``label``
    names the clock in dry-run lines."""

    def __init__(self, dry_run=False, log=None, hook=None, label="GPU clock"):
        self.dry_run = dry_run
        self.log = log
        self.hook = hook
        self.label = label
        self.journal = []

    def write(self, path, value):
        shown = sysfs.unprefix(path)
        if self.dry_run:
            if self.log is not None:
                self.log.write("{}: dry-run: would write {} > {}\n".format(self.label, value, shown))
                self.log.flush()
            return
        self.journal.append((shown, str(value)))
        logger.debug("write %s > %s", value, shown)
        data = str(value).encode("ascii")
        try:
            if self.hook is not None:
                self.hook(path, value)
            # one unbuffered write: nothing is left pending in a buffer that a later close could flush
            fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
            try:
                written = os.write(fd, data)
            finally:
                os.close(fd)
        except (IOError, OSError) as exc:
            raise WriteRejected("the kernel rejected writing {} to {} ({})".format(
                value, shown, exc.strerror or exc))
        if written != len(data):
            raise WriteRejected("the kernel took {} of {} bytes writing {} to {}".format(
                written, len(data), value, shown))


def _say(log, message):
    if log is None:
        return
    if log is LOGGER or log is sys.stderr or log is sys.__stderr__:
        level = logging.INFO
        for word, word_level in (("warning: ", logging.WARNING), ("error: ", logging.ERROR), ("note: ", logging.INFO)):
            if message.startswith(word):
                message, level = message[len(word):], word_level
        logger.log(level, "GPU clock: %s", message)
        return
    log.write("GPU clock: {}\n".format(message))
    log.flush()


def _write_access_error(paths, gpu):
    for path in paths:
        if not os.access(path, os.W_OK):
            return UserError("no write permission on {}: run with sudo, or let your user write the GPU devfreq "
                             "files with a udev rule such as /etc/udev/rules.d/99-espnet-edge-gpu.rules: {} "
                             "(see docs/jetson.md)".format(sysfs.unprefix(path), UDEV_EXAMPLE.format(name=gpu.name)))
    return None


def put_back(gpu, saved_record, writer):
    """Write one saved record (clock_state.record) back to ``gpu``: min/max in a safe order, then governor."""
    cur_min, cur_max = _read_int(gpu.file("min_freq")), _read_int(gpu.file("max_freq"))
    for name, value in plan_minmax_writes(cur_min, cur_max, saved_record["min_freq"], saved_record["max_freq"]):
        writer.write(gpu.file(name), value)
    governor = saved_record.get("governor")
    if governor and sysfs.read_text(gpu.file("governor")) != governor:
        writer.write(gpu.file("governor"), governor)


def _gpus_by_devfreq(info, records):
    """[(gpu, record)] for saved records; UserError when one names a devfreq this board lacks."""
    by_dir = dict((sysfs.unprefix(gpu.freq_dir), gpu) for gpu in info.gpus)
    pairs = []
    for saved_record in records:
        gpu = by_dir.get(saved_record["devfreq"])
        if gpu is None:
            raise UserError("{} names {} but this board has no such GPU devfreq; {}".format(
                STATE_PATH, saved_record["devfreq"], clock_state.RESET_HINT))
        pairs.append((gpu, saved_record))
    return pairs


class ClockLock(object):
    """fcntl.flock on a file under the prefixed /run/lock (or /tmp): one clock owner at a time.
    ``paths``/``what``: the lock files and the clock's name (jetson/emc.py locks the memory clock)."""

    def __init__(self, paths=LOCK_PATHS, what="GPU clock"):
        self.handle = None
        self.path = None
        self.paths = paths
        self.what = what

    def acquire(self):
        last_error = None
        for board_path in self.paths:
            path = sysfs.path(board_path)
            folder = os.path.dirname(path)
            try:
                if not os.path.isdir(folder):
                    os.makedirs(folder)
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
            except OSError as exc:
                last_error = exc
                continue
            handle = os.fdopen(fd, "r+")
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except (IOError, OSError) as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    handle.close()
                    raise
                holder = handle.read().strip() or "unknown"
                handle.close()
                raise UserError("the {} is held by another espnet-edge run (PID {}, lock {}); wait for "
                                "it to finish or stop it".format(self.what, holder, sysfs.unprefix(path)))
            handle.seek(0)
            handle.truncate()
            handle.write(str(os.getpid()))
            handle.flush()
            self.handle, self.path = handle, path
            return self
        raise UserError("cannot create a {} lock file in {}: {}".format(
            self.what, " or ".join(self.paths), last_error))

    def release(self):
        if self.handle is not None:
            try:
                self.handle.seek(0)
                self.handle.truncate()
                fcntl.flock(self.handle.fileno(), fcntl.LOCK_UN)
            finally:
                self.handle.close()
                self.handle = None


def _mode_cap_error(applied_hz, table, kernel=None):
    mode = nvpmodel.current_mode()
    if not mode or mode.get("gpu_max_hz") is None:
        return None, mode
    cap = nvpmodel.effective_cap_hz(mode["gpu_max_hz"], table, kernel)
    if applied_hz <= cap:
        return None, mode
    better = nvpmodel.modes_reaching(applied_hz, table, kernel)
    switch = ("sudo nvpmodel -m {} ({})".format(better[0][0], better[0][1]) if better
              else "sudo nvpmodel -m <mode> with a higher GPU cap")
    how = ("holds a GPU max request of {} (kernel >= 5.10: the effective maximum is the highest step not above "
           "it, {})".format(fmt_mhz(mode["gpu_max_hz"]), fmt_mhz(cap)) if kernel == boards.KERNEL_PM_QOS
           else "caps the GPU at {} (nvpmodel sets max_freq there, rounded up to a table step)".format(fmt_mhz(cap)))
    return UserError("nvpmodel mode {} ({}) {}, so {} is unreachable: choose <= {} or switch mode: {}".format(
        mode["id"], mode["name"], how, fmt_mhz(applied_hz), fmt_mhz(cap), switch)), mode


def readback_problem(low, high, target, kernel):
    """None when min_freq/max_freq read back the pin; else a one-line reason. Both kernel generations are
    verified the same way (by read-back); what the reason says follows boards.KERNEL_SEMANTICS: on 4.9 a
    write the kernel did not take fails, on 5.10+ a write is a PM-QoS request and the files show the
    effective range, min clamped to max by other requests (nvpmodel, thermal)."""
    if low == target and high == target:
        return None
    if kernel == boards.KERNEL_PM_QOS:
        return ("the GPU devfreq reads min {} / max {} after requesting {}: on this kernel (>= 5.10) min/max "
                "writes are requests and another one (an nvpmodel cap or a thermal limit) holds the range; "
                "check sudo nvpmodel -q".format(fmt_mhz(low), fmt_mhz(high), fmt_mhz(target)))
    return ("the kernel clamped the GPU clock to min {} / max {} instead of {} (a power-mode or thermal cap: "
            "check sudo nvpmodel -q)".format(fmt_mhz(low), fmt_mhz(high), fmt_mhz(target)))


def detect_or_power_up(writer, log, dry_run=False, wait_s=2.0):
    """detect.detect(); when no GPU devfreq is registered but a rail-gated Jetson GPU is found by its
    of_node, power it up once (railgate_enable := 0, then the old value back) so the devfreq node appears.
    One-line UserError when that is not possible."""
    info = detect.detect()
    if info.is_jetson:
        return info
    gated = detect.find_gated_gpu()
    if gated is None:
        raise UserError(NOT_JETSON)
    rail = gated.railgate_file
    if not os.path.exists(rail) or not os.access(rail, os.W_OK) or dry_run:
        raise UserError("found the Jetson GPU {} but its devfreq node is not registered (rail-gated since boot); "
                        "run once with sudo so espnet-edge can power it up through railgate_enable, or run any "
                        "CUDA program first".format(gated.describe()))
    before = sysfs.read_text(rail) or "1"
    _say(log, "GPU {} is rail-gated since boot (no devfreq node yet): powering it up once".format(gated.describe()))
    writer.write(rail, "0")
    deadline = time.time() + wait_s
    try:
        while time.time() < deadline:
            info = detect.detect()
            if info.is_jetson:
                return info
            time.sleep(0.05)
    finally:
        if before != "0":
            writer.write(rail, before)
    raise UserError("powered up the GPU {} but no devfreq node appeared in {:.0f} s; check dmesg".format(
        gated.describe(), wait_s))


class GpuClockPin(object):
    """Context manager returned by pin_gpu(); see the module docstring."""

    def __init__(self, freq_mhz, dry_run=False, log=LOGGER, writer=None, persistent=False):
        self.requested_mhz = freq_mhz
        self.applied_mhz = None
        self.applied_hz = None
        self.cur_mhz = None
        self.rail_gated = False
        self.dry_run = dry_run
        self.log = log
        self.persistent = persistent
        self.writer = writer or SysfsWriter(dry_run=dry_run, log=log)
        self.writer.dry_run = dry_run
        self.info = None
        self.saved = []          # [(gpu, GpuState before we touched it)]
        self.nvpmodel_mode = None
        self._lock = ClockLock()
        self._touched = False
        self._restored = False
        self._previous_handlers = {}
        self.kept_earlier_state = False
        self.took_over_stale = False
        self._state_role = None   # "file": we wrote the state file; "run": our record sits in a `clocks set` file
        self._critical = False    # a write sequence is running: signals wait for its end
        self._restoring = False
        self._pending_signal = None

    # -- entering ---------------------------------------------------------------------------------
    def __enter__(self):
        info = detect_or_power_up(self.writer, self.log, self.dry_run)
        self.info = info
        states = [(gpu, GpuState(gpu)) for gpu in info.gpus]
        primary = states[0][1]
        self.applied_hz = snap_to_table(self.requested_mhz, primary.table)
        self.applied_mhz = mhz(self.applied_hz)
        cap_error, self.nvpmodel_mode = _mode_cap_error(self.applied_hz, primary.table, info.kernel_generation)
        if cap_error:
            raise cap_error
        paths = []
        for gpu, state in states:
            paths += [gpu.file("min_freq"), gpu.file("max_freq")]
            if self._wants_governor(state):
                paths.append(gpu.file("governor"))
        denied = _write_access_error(paths, info.gpus[0])
        if denied and not self.dry_run:
            raise denied
        if denied:
            _say(self.log, "warning: {}".format(denied))
        if not self.dry_run:
            self._lock.acquire()
        try:
            self._install_signal_handlers()
            self._critical = True
            try:
                if not self.dry_run:
                    self._take_over_leftover_state()
                self.saved = [(gpu, GpuState(gpu)) for gpu in info.gpus]  # re-read under the lock
                if not self.dry_run:
                    self._save_state()
                self._pin()
            finally:
                self._critical = False
            pending, self._pending_signal = self._pending_signal, None
            if pending is not None:
                self._restore_and_unlock()
                self._raise_for_signal(pending)
        except UserError as exc:
            touched = self._touched
            problems = self._restore_and_unlock()
            if touched and not problems and not self.dry_run:
                raise type(exc)("{}; the previous clock settings were put back".format(exc))
            raise
        except BaseException:
            self._restore_and_unlock()
            raise
        return self

    def _take_over_leftover_state(self):
        """A state file left by a run that is gone (we hold the lock, so its owner is not running):
        put its pin back first rather than saving that pin as "original"."""
        data = clock_state.read()
        if data is None:
            return
        if not clock_state.belongs_here(data, self.info):
            clock_state.remove()
            _say(self.log, "discarded a saved clock state from before a reboot or another board")
            return
        run = data.get("run")
        if run is not None:
            for gpu, saved_record in _gpus_by_devfreq(self.info, run["gpus"]):
                put_back(gpu, saved_record, self.writer)
            del data["run"]
            clock_state.write(data)
            self.took_over_stale = True
            _say(self.log, "found the GPU pinned by PID {} which is gone; put back the `clocks set` pin "
                           "it ran on first".format(run.get("pid")))
        if not data.get("persistent"):
            for gpu, saved_record in _gpus_by_devfreq(self.info, data["gpus"]):
                put_back(gpu, saved_record, self.writer)
            clock_state.remove()
            self.took_over_stale = True
            first = data["gpus"][0]
            _say(self.log, "found the GPU left pinned by PID {} which is gone; restored min {} / max {} / "
                           "governor {} first".format(data.get("pid"), fmt_mhz(first["min_freq"]),
                                                       fmt_mhz(first["max_freq"]), first.get("governor")))

    def _save_state(self):
        """Before the first write: the original state on disk (fsync + rename)."""
        records = [clock_state.record(gpu, state.min_hz, state.max_hz, state.governor) for gpu, state in self.saved]
        data = clock_state.read()
        if data is None:
            clock_state.write(clock_state.new_state(self.info, records, self.persistent))
            self._state_role = "file"
        elif self.persistent:
            self.kept_earlier_state = True   # a second `clocks set` keeps the first one's original
        else:
            data["run"] = {"pid": os.getpid(), "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S"), "gpus": records}
            clock_state.write(data)
            self._state_role = "run"

    def _forget_state(self):
        """After a complete restore: the saved state (or our run record in it) is no longer needed."""
        role, self._state_role = self._state_role, None
        if role == "file":
            clock_state.remove()
        elif role == "run":
            data = clock_state.read()
            if data is not None and data.pop("run", None) is not None:
                clock_state.write(data)

    def _wants_governor(self, state):
        return PIN_GOVERNOR in state.governors and state.governor != PIN_GOVERNOR

    def _pin(self):
        if self.applied_hz != self.requested_mhz * 1e6:
            _say(self.log, "warning: requested {} MHz, applied {} (nearest available_frequencies step)".format(
                self.requested_mhz, fmt_mhz(self.applied_hz)))
        for gpu, state in self.saved:
            target = snap_to_table(self.applied_mhz, state.table)
            self._touched = True
            if self._wants_governor(state):
                self.writer.write(gpu.file("governor"), PIN_GOVERNOR)
                if not self.dry_run and sysfs.read_text(gpu.file("governor")) != PIN_GOVERNOR:
                    raise UserError("the GPU devfreq refused governor {!r} (it reads {!r})".format(
                        PIN_GOVERNOR, sysfs.read_text(gpu.file("governor"))))
            for name, value in plan_minmax_writes(state.min_hz, state.max_hz, target, target):
                self.writer.write(gpu.file(name), value)
            if not self.dry_run:
                self._verify(gpu, target)
        _say(self.log, "{} {} on {}".format("dry-run: would pin" if self.dry_run else "pinned",
                                             fmt_mhz(self.applied_hz), self.info.board_name))

    def _verify(self, gpu, target):
        low, high = _read_int(gpu.file("min_freq")), _read_int(gpu.file("max_freq"))
        problem = readback_problem(low, high, target, self.info.kernel_generation)
        if problem:
            raise UserError(problem)
        cur_hz = _read_cur_hz(gpu)
        if gpu is self.saved[0][0]:
            self.cur_mhz = mhz(cur_hz) if cur_hz is not None else None
            self.rail_gated = cur_hz == 0
        if cur_hz == 0:
            _say(self.log, "cur_freq reads 0: the GPU is rail-gated while idle; the pin applies when it wakes")
        elif cur_hz is not None and cur_hz != target:
            _say(self.log, "note: cur_freq reads {} (not yet {}); it follows once the GPU is busy".format(
                fmt_mhz(cur_hz), fmt_mhz(target)))

    # -- leaving ----------------------------------------------------------------------------------
    def __exit__(self, exc_type, exc, tb):
        if self.persistent and exc_type is None:
            self._restored = True   # `clocks set`: the pin outlives us; `clocks restore` undoes it
            self._state_role = None
        self._restore_and_unlock()
        return False

    def restore(self):
        """Put back the saved min/max/governor (once). Returns a list of problems (empty when all went back)."""
        if self._restored or not self._touched:
            self._restored = True
            return []
        self._restored = True
        problems = []
        for gpu, state in self.saved:
            try:
                cur_min = _read_int(gpu.file("min_freq")) if not self.dry_run else self.applied_hz
                cur_max = _read_int(gpu.file("max_freq")) if not self.dry_run else self.applied_hz
                for name, value in plan_minmax_writes(cur_min, cur_max, state.min_hz, state.max_hz):
                    self.writer.write(gpu.file(name), value)
                governor_now = PIN_GOVERNOR if self.dry_run else sysfs.read_text(gpu.file("governor"))
                if self._wants_governor(state) and state.governor and governor_now != state.governor:
                    self.writer.write(gpu.file("governor"), state.governor)
            except UserError as exc:
                problems.append(str(exc))
        if problems:
            _say(self.log, "error: could not restore: " + "; ".join(problems))
        elif not self.dry_run:
            first = self.saved[0][1]
            _say(self.log, "restored min {} / max {} / governor {}".format(
                fmt_mhz(first.min_hz), fmt_mhz(first.max_hz), first.governor))
        return problems

    def _restore_and_unlock(self):
        """Restore, drop the handlers and the lock; a signal arriving meanwhile is acted on afterwards."""
        self._restoring = True
        try:
            problems = self.restore()
            if not problems:
                self._forget_state()
        finally:
            self._uninstall_signal_handlers()
            self._lock.release()
            self._restoring = False
        pending, self._pending_signal = self._pending_signal, None
        if pending is not None:
            self._raise_for_signal(pending)
        return problems

    # -- signals ----------------------------------------------------------------------------------
    def _install_signal_handlers(self):
        if self.dry_run or threading.current_thread() is not threading.main_thread():
            return
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            if signal.getsignal(signum) == signal.SIG_IGN:
                continue   # ignored when we started (nohup): stays ignored
            self._previous_handlers[signum] = signal.signal(signum, self._on_signal)

    def _uninstall_signal_handlers(self):
        for signum, handler in self._previous_handlers.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        self._previous_handlers = {}

    def _on_signal(self, signum, frame):
        if self._restoring or self._critical:
            self._pending_signal = signum
            return
        self._restore_and_unlock()   # restore first, whatever the code above us does with the exception
        self._raise_for_signal(signum)

    @staticmethod
    def _raise_for_signal(signum):
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise SystemExit(SIGNAL_EXIT.get(signum, 128 + signum))


def pin_gpu(freq_mhz, dry_run=False, log=LOGGER, writer=None):
    """Context manager: pin the GPU to the table step nearest ``freq_mhz`` MHz; yields the pin object
    (.requested_mhz, .applied_mhz, .cur_mhz, .rail_gated, .nvpmodel_mode, .info)."""
    return GpuClockPin(freq_mhz, dry_run=dry_run, log=log, writer=writer)


def check_pinnable(freqs_mhz, flag="--freq"):
    """Fail before the first run when any of several frequencies cannot be pinned here (not a
    Jetson, outside the table, above the nvpmodel cap, no write access): a dry run of each pin.
    ``flag``: the option the user typed, for the messages."""
    try:
        detect_or_power_up(SysfsWriter(), LOGGER)   # a GPU rail-gated since boot is powered up once here
        for freq in freqs_mhz:
            with pin_gpu(freq, dry_run=True, log=None):
                pass
    except UserError as exc:
        if str(exc) == NOT_JETSON:
            raise UserError(NOT_JETSON.replace("--freq", flag) + "; without {} it runs here at the GPU's own "
                            "clock".format(flag))
        raise


# -- persistent pin: `espnet-edge clocks set` / `clocks restore` -----------------------------------
def read_saved_state():
    return clock_state.read()


def set_persistent(freq_mhz, dry_run=False, log=LOGGER, writer=None):
    """Pin until `clocks restore`; the original state is saved once (a second `set` keeps the first one)."""
    pin = GpuClockPin(freq_mhz, dry_run=dry_run, log=log, writer=writer, persistent=True)
    with pin:
        pass
    return pin


def restore_persistent(dry_run=False, log=LOGGER, writer=None):
    """Put back the original state saved by `clocks set` or by a pinning run that died; returns it."""
    from espnet_edge.utils.signals import deferred

    saved = clock_state.read()
    if saved is None:
        raise UserError("nothing to restore: no saved clock state at {} (no pin is active, or it was "
                        "already restored)".format(STATE_PATH))
    info = detect.detect()
    if not info.is_jetson:
        raise UserError(NOT_JETSON.replace("--freq needs", "clocks restore needs"))
    if not clock_state.belongs_here(saved, info):
        if not dry_run:
            clock_state.remove()
        raise UserError("the saved clock state is from before a reboot or from another board (the kernel "
                        "reset the clock since); removed it, nothing to restore")
    writer = writer or SysfsWriter(dry_run=dry_run, log=log)
    writer.dry_run = dry_run
    pairs = _gpus_by_devfreq(info, saved["gpus"])
    paths = []
    for gpu, _record in pairs:
        paths += [gpu.file("min_freq"), gpu.file("max_freq"), gpu.file("governor")]
    denied = _write_access_error(paths, info.gpus[0])
    if denied and not dry_run:
        raise denied
    lock = ClockLock()
    if not dry_run:
        lock.acquire()
    try:
        with deferred():
            for gpu, saved_record in pairs:
                put_back(gpu, saved_record, writer)
            if not dry_run:
                clock_state.remove()
    finally:
        lock.release()
    return saved
