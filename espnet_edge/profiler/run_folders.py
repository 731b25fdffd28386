"""Run folders under --out: reserved, owned, published, and cleaned up after an owner that was killed.

A run reserves ``OUT/NAME`` with an atomic mkdir and records its owner beside it in the hidden marker
``OUT/.NAME.owner`` (JSON: pid, boot_id, host, started). It writes into a hidden staging folder
``OUT/.NAME.XXXXXXXX.tmp`` (utils/atomic.staging_dir), renames that onto the reservation
(``publish_run``) and then removes the marker; a run failing in Python gives the folder back
(``release_run_dir``). A SIGKILL, an OOM kill or a power cut skips both: the marker then names an owner
that is gone (another boot, or its PID no longer runs on this host: the test jetson/clock_state uses for
a pinned clock's owner), and the next reservation in OUT removes that owner's empty folder and staging
folders (a sweep's staging folder with finished runs is kept as NAME-incomplete). Readers skip such a
folder with a note (``interrupted_note``). A live owner's folders and any filled run folder are never
removed. Reservations, releases and clean-ups hold an flock on OUT, so they never race each other.
"""

import datetime
import errno
import json
import logging
import os
import platform
import re
import shutil

from espnet_edge.errors import UserError
from espnet_edge.jetson import clock_state, sysfs
from espnet_edge.utils.atomic import ensure_writable_dir, publish_dir
from espnet_edge.utils.atomic import locked as _locked  # an flock on the folder itself

log = logging.getLogger(__name__)

MARKER_SUFFIX = ".owner"
INCOMPLETE_SUFFIX = "-incomplete"
_STAGING = r"\.[a-z0-9_]{8}\.tmp"   # tempfile.mkdtemp's 8 random characters (staging_dir's suffix)


def check_run_name(name, flag="--name"):
    """A run folder name is one path component: never a path that would land outside --out."""
    if not name or name in (".", "..") or "/" in name or os.sep in name or "\0" in name:
        raise UserError("{} {!r} must be a folder name, not a path (no '/', not '.' or '..'); choose the "
                        "parent folder with --out".format(flag, name))
    return name


def marker_path(target):
    parent, name = os.path.split(os.path.abspath(target))
    return os.path.join(parent, "." + name + MARKER_SUFFIX)


def _this_boot():
    # the real boot, not a simulated board's: the owner is a process of this machine
    return sysfs.read_text(clock_state.BOOT_ID)


def _owner_record():
    return {"pid": os.getpid(), "boot_id": _this_boot(), "host": platform.node(),
            "started": datetime.datetime.now().isoformat()}


def read_owner(target):
    """The owner record beside ``target``, or None (no marker, or one that is not ours to judge)."""
    try:
        with open(marker_path(target)) as handle:
            data = json.load(handle)
    except (IOError, OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def owner_gone(owner):
    """True when the process that wrote ``owner`` cannot be running: another boot of this host, or its
    PID is gone. Another host's owner (a shared --out) is never judged gone."""
    if owner.get("host") != platform.node():
        return False
    boot = _this_boot()
    if owner.get("boot_id") and boot and owner["boot_id"] != boot:
        return True
    return not clock_state.pid_alive(owner.get("pid"))


def _remove(path):
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            raise


def _unlink_marker(target):
    try:
        os.unlink(marker_path(target))
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            raise


def _mkdir_free(out_dir, name, exact, flag="--out"):
    """mkdir out_dir/name (or name-2, -3... unless ``exact``); the caller holds the lock."""
    for index in range(1, 1000):
        target = os.path.join(out_dir, name if index == 1 else "{}-{}".format(name, index))
        if os.path.lexists(marker_path(target)):
            if exact:
                raise UserError("{} is reserved by another run (its owner marker {} is there); choose "
                                "another --name or --out".format(target, marker_path(target)))
            continue
        try:
            os.mkdir(target)
            return target
        except FileExistsError:
            if exact:
                raise UserError("{} already exists; a run folder is never overwritten: choose another "
                                "--name or --out".format(target))
        except OSError as exc:
            raise UserError("cannot create run folder {}: {}; choose another {}".format(
                target, exc.strerror or exc, flag))
    raise UserError("too many runs named {} in {}".format(name, out_dir))


def _finished_in(staging):
    """Finished runs inside a sweep's staging folder (runs/<run>/summary.json)."""
    runs = os.path.join(staging, "runs")
    if not os.path.isdir(runs):
        return []
    return [r for r in os.listdir(runs) if not r.startswith(".")
            and os.path.isfile(os.path.join(runs, r, "summary.json"))]


def _clean_one(out_dir, name):
    """Remove what the dead owner of ``name`` left; returns the phrases for the log line."""
    target = os.path.join(out_dir, name)
    staging = re.compile(r"\." + re.escape(name) + _STAGING + r"\Z")
    said = []
    for entry in sorted(os.listdir(out_dir)):
        if not staging.match(entry):
            continue
        path = os.path.join(out_dir, entry)
        if os.path.isdir(path) and _finished_in(path):
            # a killed sweep: its finished runs are kept, as a Python-stopped sweep keeps them
            inside = _clean_names(os.path.join(path, "runs"))   # the same dead owner's: no lock needed
            salvage = _mkdir_free(out_dir, name + INCOMPLETE_SUFFIX, exact=False)
            publish_dir(path, salvage)
            said.append("its finished runs kept in {}{}".format(
                os.path.basename(salvage), ", where it also left " + "; ".join(inside) if inside else ""))
        else:
            _remove(path)
            said.append("staging folder {} removed".format(entry))
    if os.path.isdir(target) and not os.listdir(target):
        os.rmdir(target)
        said.insert(0, "empty folder removed")
    _unlink_marker(target)
    return "{} ({})".format(name, ", ".join(said) or "owner marker removed")


def clean_stale(out_dir):
    """Remove the reservations and staging folders in ``out_dir`` whose owner is gone (see the module
    docstring); one log line says what went. Returns one phrase per run cleaned ("NAME (what)")."""
    if not os.path.isdir(out_dir):
        return []
    with _locked(out_dir):
        return _clean_stale_locked(out_dir)


def _stale_names(out_dir):
    names = []
    for entry in sorted(os.listdir(out_dir)):
        if entry.startswith(".") and entry.endswith(MARKER_SUFFIX) and len(entry) > len(MARKER_SUFFIX) + 1:
            name = entry[1:-len(MARKER_SUFFIX)]
            owner = read_owner(os.path.join(out_dir, name))
            if owner is not None and owner_gone(owner):
                names.append(name)
    return names


def _clean_names(out_dir):
    return [_clean_one(out_dir, name) for name in _stale_names(out_dir)]


def _clean_stale_locked(out_dir):
    said = _clean_names(out_dir)
    if said:
        log.info("cleaned up after interrupted run(s) in {}: {}".format(out_dir, "; ".join(said)))
    return said


def new_run_dir(out_dir, name, exact=False, flag="--out"):
    """Reserve ``out_dir/name`` (or name-2, -3... unless ``exact``) by creating it empty: mkdir is atomic,
    so two runs starting at the same moment get different folders; the owner marker is written beside
    it. What a killed owner left in ``out_dir`` is cleaned first. ``publish_run`` fills it;
    ``release_run_dir`` gives it back when the run fails."""
    from espnet_edge.utils.atomic import write_json

    from espnet_edge.utils.signals import deferred

    check_run_name(name)
    ensure_writable_dir(out_dir, flag)
    target = None
    try:
        with deferred():   # never a folder without its marker; a Ctrl-C meanwhile comes after, below
            with _locked(out_dir):
                _clean_stale_locked(out_dir)
                target = _mkdir_free(out_dir, name, exact, flag)
                try:
                    write_json(marker_path(target), _owner_record())
                except BaseException:
                    os.rmdir(target)
                    target = None
                    raise
    except BaseException:
        if target is not None:
            release_run_dir(target)
        raise
    return target


def publish_run(tmp, target):
    """publish_dir (the finished staging folder onto the reservation), then the owner marker goes."""
    from espnet_edge.utils.signals import deferred

    with deferred():
        publish_dir(tmp, target)
        with _locked(os.path.dirname(os.path.abspath(target))):
            _unlink_marker(target)


def release_run_dir(target):
    """Remove a reserved run folder that was never filled (the run failed or was interrupted)."""
    parent = os.path.dirname(os.path.abspath(target))
    if not os.path.isdir(parent):
        return
    with _locked(parent):
        try:
            os.rmdir(target)
        except OSError:
            pass
        else:
            _unlink_marker(target)
            return
        if os.path.isdir(target) and os.listdir(target):
            _unlink_marker(target)   # filled: a finished run, no longer a reservation


def interrupted_note(folder):
    """One line for a reader skipping ``folder``, a run folder that was never filled, or None when it is
    not one (it has files, or it is not a reservation)."""
    if not os.path.isdir(folder) or os.listdir(folder):
        return None
    owner = read_owner(folder)
    if owner is not None and not owner_gone(owner):
        return "skipping {}: a run still being written (PID {} on {})".format(
            folder, owner.get("pid"), owner.get("host"))
    return "skipping {}: an empty run folder from an interrupted run (killed before it was written)".format(
        folder)
