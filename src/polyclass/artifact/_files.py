"""Open a file of an artifact only if it is a regular file of its own directory."""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path

from polyclass.artifact._errors import ArtifactError

# O_NOFOLLOW refuses a symbolic link as the last path component; O_NONBLOCK keeps the
# open of a FIFO from waiting for a writer, so the type check below is reached at once.
_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)


def open_regular(path: Path) -> io.BufferedReader:
    """Open ``path`` for binary reading, refusing links, FIFOs, devices and directories.

    Raises :class:`FileNotFoundError` when nothing is there, and :class:`ArtifactError`
    naming the kind of file when it is not a regular file.
    """
    if path.is_symlink():  # also on systems without O_NOFOLLOW, and a clearer message
        raise _not_regular(path, "a symbolic link")
    try:
        fd = os.open(path, _FLAGS)
    except OSError as exc:
        if exc.errno == getattr(os, "ELOOP", None) or path.is_symlink():
            raise _not_regular(path, "a symbolic link") from None
        raise
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise _not_regular(path, _kind(mode))
        if _FLAGS & getattr(os, "O_NONBLOCK", 0):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"  # pragma: no cover - every POSIX type is named above


def _not_regular(path: Path, kind: str) -> ArtifactError:
    return ArtifactError(
        f"{path} is {kind}; an artifact holds only regular files, so polyclass does not "
        "follow links or open special files inside one. Replace it with the real file "
        "(restore the artifact from the registry or save it again).",
        path=path,
    )
