"""Every file the project writes goes through here, and no write can be redirected out of its folder.

- A write goes to a temporary file in the target's folder, is synced, then renamed over the target (a reader
  sees the old file or the new one, never a part), with the permissions the umask gives.
- The folder is reached through directory file descriptors opened with ``O_NOFOLLOW`` one component at a time,
  starting from the confining root (:func:`confine_writes`; without one, from the target's parent). A symbolic
  link at any component under the root, or at the target itself, is refused with ``ValueError``; a link that
  appears during a run is refused as well, because nothing is looked up by path name after the walk.
- :func:`refuse_symlinks` checks a whole output folder before anything is computed.
"""
from __future__ import annotations

import contextlib
import contextvars
import errno
import os
import secrets
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

from hessverify._validation import as_path

#: temporary files are named ``.tmp-hessverify-<target name>.<random><suffix>``
TEMP_PREFIX = ".tmp-hessverify-"

_ROOTS: contextvars.ContextVar[tuple[Path, ...]] = contextvars.ContextVar("hessverify_write_roots", default=())
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


class SymlinkRefused(ValueError):
    """A symbolic link where hessverify writes: following it could write outside the output folder."""


def _link_error(path: Path, root: Path | None) -> SymlinkRefused:
    where = f" inside the output folder {root}" if root is not None else ""
    return SymlinkRefused(f"{path} is a symbolic link{where}; refusing to write through it (a write could land "
                          "outside the folder). Remove the link, or pass another output folder")


def refuse_symlinks(root: str | Path) -> None:
    """Raise :class:`SymlinkRefused` naming the first symbolic link found anywhere under ``root`` (``root``
    itself may be a link: the caller chose it). Missing ``root``: nothing to check.

    Parameters
    ----------
    root : str or Path
        The output folder.
    """
    root = as_path("root", root)
    if not root.is_dir():
        return
    for folder, dirs, files in os.walk(root, followlinks=False):
        for name in sorted(dirs + files):
            p = Path(folder) / name
            if p.is_symlink():
                raise _link_error(p, root)


@contextlib.contextmanager
def confine_writes(root: str | Path) -> Iterator[Path]:
    """Within the block, every :func:`atomic_write` under ``root`` walks from ``root`` with ``O_NOFOLLOW`` (a
    link at ``root/a`` is refused when writing ``root/a/b.md``, not only a link at ``b.md``).

    Parameters
    ----------
    root : str or Path
        The output folder (itself may be a link: the caller chose it).

    Returns
    -------
    Iterator[Path]
        A context manager yielding the absolute root.
    """
    root = Path(os.path.abspath(root))
    token = _ROOTS.set((*_ROOTS.get(), root))
    try:
        yield root
    finally:
        _ROOTS.reset(token)


def _root_of(path: Path) -> Path | None:
    """The innermost confining root that holds ``path`` (None if none does)."""
    holding = [r for r in _ROOTS.get() if path == r or r in path.parents]
    return max(holding, key=lambda r: len(r.parts)) if holding else None


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Delete the temporary files that killed writes left under ``folder`` (call it while no other run writes
    there: the report runner does, holding its lock). Links are neither followed nor deleted."""
    stale = []
    for parent, _dirs, files in os.walk(folder, followlinks=False):
        for name in files:
            p = Path(parent) / name
            if name.startswith(TEMP_PREFIX) and stat.S_ISREG(os.lstat(p).st_mode):
                p.unlink(missing_ok=True)
                stale.append(p)
    return stale


def _open_dir(parent: int | None, name: str, path: Path, root: Path | None, *, create: bool) -> int:
    """A descriptor of directory ``name`` inside descriptor ``parent``, never through a link (made if missing)."""
    for attempt in range(2):
        try:
            return os.open(name, _DIR_FLAGS, dir_fd=parent)
        except FileNotFoundError:
            if not create or attempt:
                raise
            with contextlib.suppress(FileExistsError):
                os.mkdir(name, 0o777, dir_fd=parent)
        except OSError as e:
            if e.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK) and stat.S_ISLNK(
                    os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode):
                raise _link_error(path, root) from None
            raise
    raise AssertionError("unreachable")


def _parent_fd(path: Path) -> int:
    """A descriptor of ``path``'s folder reached from the confining root (or from the folder itself) without
    following any link below it."""
    path = Path(os.path.abspath(path))
    root = _root_of(path.parent)
    rel = path.parent.relative_to(root) if root is not None else None
    try:
        if rel is None:  # outside every confining root: only the target itself is guarded
            path.parent.mkdir(parents=True, exist_ok=True)
            start, parts = path.parent, ()
        else:
            root.mkdir(parents=True, exist_ok=True)
            start, parts = root, rel.parts
    except (FileExistsError, NotADirectoryError):
        raise ValueError(f"cannot write {path}: a file stands where a folder on its path should be") from None
    fd = os.open(start, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    here = start
    try:
        for part in parts:
            here = here / part
            nxt = _open_dir(fd, part, here, root, create=True)
            os.close(fd)
            fd = nxt
    except BaseException:
        os.close(fd)
        raise
    return fd


def _fd_path(dir_fd: int, folder: Path, name: str) -> Path:
    """A path naming ``name`` inside the directory behind ``dir_fd``: through ``/proc/self/fd`` where it exists
    (so renaming or relinking a folder on the way cannot redirect the writer), else through ``folder``."""
    proc = Path(f"/proc/self/fd/{dir_fd}")
    return proc / name if proc.is_dir() else folder / name


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp_path)`` to fill a temporary file beside ``path``, then rename it to ``path``.

    A symbolic link at ``path``, or at any folder between the confining root (:func:`confine_writes`) and
    ``path``, is refused (:class:`SymlinkRefused`, a ``ValueError``), so a write never lands outside the folder it
    names. A failure or a kill leaves ``path`` as it was; the temporary file of a failure is removed.

    Parameters
    ----------
    path : str or Path
        The file to (re)place.
    write : callable
        ``write(tmp_path)`` writes the whole content to ``tmp_path``.
    """
    path = as_path("path", path)
    if not callable(write):
        raise TypeError(f"write must be a callable write(tmp_path), got {type(write).__name__}")
    dir_fd = _parent_fd(path)
    tmp = f"{TEMP_PREFIX}{path.name}.{secrets.token_hex(4)}{path.suffix}"
    try:
        with contextlib.suppress(FileNotFoundError):
            if stat.S_ISLNK(os.stat(path.name, dir_fd=dir_fd, follow_symlinks=False).st_mode):
                raise _link_error(path, _root_of(Path(os.path.abspath(path)).parent))
        # O_EXCL | O_NOFOLLOW: a fresh file of our own, never an existing file or a link; 0o666 & ~umask
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o666, dir_fd=dir_fd))
        try:
            write(_fd_path(dir_fd, path.parent, tmp))
            fd = os.open(tmp, os.O_RDONLY | _NOFOLLOW, dir_fd=dir_fd)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, path.name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)  # renames a link, never follows it
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp, dir_fd=dir_fd)
            raise
    finally:
        os.close(dir_fd)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (:func:`atomic_write`)."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes, got {type(data).__name__}")
    atomic_write(path, lambda tmp: tmp.write_bytes(data))


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (:func:`atomic_write`)."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    atomic_write(path, lambda tmp: tmp.write_bytes(text.encode("utf-8")))  # UTF-8, newlines as given



def read_bounded(path: str | Path, max_bytes: int) -> bytes:
    """The bytes of ``path``, refusing a link at ``path`` (``O_NOFOLLOW``) and a file over ``max_bytes``
    (``ValueError`` naming the file); only ``max_bytes + 1`` bytes are ever read."""
    fd = os.open(path, os.O_RDONLY | _NOFOLLOW)
    with os.fdopen(fd, "rb") as f:
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ValueError(f"{path} is larger than {max_bytes} bytes; refusing to read it")
    return data
