"""Which filesystem a path is on, so a write that cannot work gets the right advice before any work
("/proc cannot hold files", "read-only mount") instead of "free some space".

Read from this machine's /proc/self/mountinfo (never through ESPNET_EDGE_SYSFS_ROOT: the simulated
board is not where our files go). Linux only; elsewhere every answer is "unknown" (None).
"""

import os

MOUNTINFO = "/proc/self/mountinfo"

# kernel filesystems that show kernel state as files: no regular file can be created in them
PSEUDO = frozenset((
    "proc", "sysfs", "cgroup", "cgroup2", "debugfs", "tracefs", "securityfs", "pstore", "bpf", "configfs",
    "fusectl", "mqueue", "devpts", "binfmt_misc", "efivarfs", "nsfs", "autofs", "rpc_pipefs", "selinuxfs",
    "hugetlbfs"))


class Mount(object):
    """One line of mountinfo: where it is mounted, the filesystem type, whether it is read-only."""

    def __init__(self, point, fstype, read_only):
        self.point = point
        self.fstype = fstype
        self.read_only = read_only

    @property
    def pseudo(self):
        return self.fstype in PSEUDO

    def __repr__(self):
        return "Mount({!r}, {!r}, read_only={})".format(self.point, self.fstype, self.read_only)


def _unescape(text):
    """mountinfo writes space, tab, newline and backslash in paths as octal escapes (\\040...)."""
    for code in ("040", "011", "012", "134"):
        text = text.replace("\\" + code, chr(int(code, 8)))
    return text


def parse_mountinfo(text):
    """mountinfo text -> [Mount] in file order (later lines are mounted over earlier ones)."""
    mounts = []
    for line in text.splitlines():
        fields = line.split()
        if "-" not in fields or len(fields) < 6:
            continue
        dash = fields.index("-")
        if dash + 1 >= len(fields):
            continue
        options = fields[5].split(",")
        mounts.append(Mount(_unescape(fields[4]), fields[dash + 1], "ro" in options))
    return mounts


def mount_of(path, text=None):
    """The Mount holding ``path`` (resolved through symlinks; a path that does not exist yet is judged
    by the folder it would be created in), or None where mountinfo cannot be read."""
    if text is None:
        try:
            with open(MOUNTINFO, "rb") as handle:
                text = handle.read().decode("utf-8", "replace")
        except (IOError, OSError):
            return None
    real = os.path.realpath(os.path.abspath(path))
    best = None
    for mount in parse_mountinfo(text):
        point = mount.point.rstrip("/") or "/"
        inside = real == point or real.startswith(point + "/") or point == "/"
        if inside and (best is None or len(point) >= len(best.point.rstrip("/") or "/")):
            best = mount
    return best


def cannot_hold_files(path, text=None):
    """-> a short reason when files cannot be created under ``path`` whatever the space or the
    permissions (a kernel pseudo filesystem, a read-only mount), else None."""
    mount = mount_of(path, text)
    if mount is None:
        return None
    if mount.pseudo:
        return "{} is a kernel filesystem ({}) that cannot hold files".format(mount.point, mount.fstype)
    if mount.read_only:
        return "{} is mounted read-only ({})".format(mount.point, mount.fstype)
    return None
