"""Checks on the paths a command is given, shared by the CLI (cli/validate.py) and the Python API.

- ``file_problem(path)``: why ``path`` cannot be read as a file (missing, a folder, a device, a fifo, a
  symlink loop, unreadable), so the message never says "does not exist" for a path that does.
- ``outputs_apart(outputs, inputs)``: no output is written over an input: the same file (through
  symlinks, hard links and relative paths) or, for an output folder, a file the command would write
  there that is one of its inputs. Run before any work.
"""

import errno
import os
import re
import stat

from espnet_edge.errors import UserError

_KINDS = ((stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a fifo (named pipe)"),
          (stat.S_ISSOCK, "a socket"))


def file_problem(path, what="file", allow_empty=False):
    """-> None when ``path`` is a readable, non-empty regular file; else a phrase to follow the path
    ("does not exist", "is a folder; give the checkpoint itself", ...)."""
    try:
        info = os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "is a symbolic link that loops (it points back at itself); point it at the {}".format(what)
        if exc.errno == errno.EACCES:
            return "cannot be reached (permission denied on a folder above it)"
        if os.path.islink(path):
            return "is a broken symbolic link (to {}, which does not exist)".format(os.readlink(path))
        if exc.errno == errno.ENOTDIR:
            return "does not exist (a part of the path above it is a file, not a folder)"
        return "does not exist"
    if stat.S_ISDIR(info.st_mode):
        return "is a folder; give the {} itself".format(what)
    for test, kind in _KINDS:
        if test(info.st_mode):
            return "is {}, not a regular file; give the {} itself".format(kind, what)
    if not os.access(path, os.R_OK):
        return "is not readable (permission denied)"
    if info.st_size == 0 and not allow_empty:
        return "is empty (0 bytes); the {} was not written completely".format(what)
    return None


def folder_problem(path):
    """-> None for an existing, readable folder; else a phrase as ``file_problem`` gives."""
    if os.path.isdir(path):
        return None if os.access(path, os.R_OK | os.X_OK) else "is not readable (permission denied)"
    problem = file_problem(path, "folder")
    return problem if problem is not None else "is a file, not a folder"


def _identity(path):
    """(device, inode) of what ``path`` leads to (through symlinks; hard links share it), or None."""
    try:
        info = os.stat(path)
    except (OSError, ValueError):
        return None
    return info.st_dev, info.st_ino


def _input_files(inputs, limit=100000):
    """{identity: (flag, path)} of every input file, folders expanded (at most ``limit`` files each)."""
    files = {}
    for flag, path in inputs:
        if not path or not os.path.exists(path):
            continue
        if not os.path.isdir(path):
            files.setdefault(_identity(path), (flag, path))
            continue
        count = 0
        for root, _dirs, names in os.walk(path):
            for name in names:
                identity = _identity(os.path.join(root, name))
                if identity is not None:
                    files.setdefault(identity, (flag, os.path.join(root, name)))
            count += len(names)
            if count >= limit:
                break
    files.pop(None, None)
    return files


def outputs_apart(outputs, inputs):
    """UserError when an output would replace an input.

    ``outputs``: (flag, path) for a file the command writes, or (flag, folder, names) for a folder it
    writes files into: ``names`` a list of file names, or a regular expression they match (e.g.
    ``frame_\\d{6}\\.png``). ``inputs``: (flag, path) for each file or folder it reads (every file
    under a folder counts). Files are compared by device and inode: through symlinks, hard links and
    relative paths alike; an output that does not exist yet cannot be an input."""
    files = _input_files(inputs)
    folders = dict((_identity(path), (flag, path)) for flag, path in inputs if path and os.path.isdir(path))
    seen = {}
    for output in outputs:
        flag, target = output[0], output[1]
        if not target:
            continue
        key = os.path.realpath(os.path.abspath(target))
        if key in seen:
            raise UserError("{} {} and {} {} are the same {}; give each output its own".format(
                seen[key][0], seen[key][1], flag, target, "folder" if len(output) > 2 else "file"))
        seen[key] = (flag, target)
        if len(output) > 2:
            _folder_apart(flag, target, output[2], files)
            continue
        identity = _identity(target)
        if identity in files:
            in_flag, path = files[identity]
            raise UserError("{} {} is the input {} {}: writing it would replace that file; choose another "
                            "{}".format(flag, target, in_flag, path, flag))
        if identity is not None and identity in folders:
            in_flag, path = folders[identity]
            raise UserError("{} {} is the input folder {} {}; choose another {}".format(
                flag, target, in_flag, path, flag))


def _folder_apart(flag, folder, names, files):
    """An output folder: none of the files written there (``names``: a list, or a regex) is an input."""
    here = _identity(folder)
    if here is None:
        return   # a folder that does not exist yet holds no input
    if isinstance(names, str):
        pattern = re.compile(names)
        hits = [(in_flag, path) for in_flag, path in files.values() if pattern.match(os.path.basename(path))
                and _identity(os.path.dirname(os.path.abspath(path))) == here]
    else:
        hits = [files[identity] for identity in (_identity(os.path.join(folder, name)) for name in names)
                if identity in files]
    if hits:
        in_flag, path = hits[0]
        raise UserError("{} {} would write {} over the input {} ({}); choose another {}".format(
            flag, folder, os.path.basename(path), path, in_flag, flag))
