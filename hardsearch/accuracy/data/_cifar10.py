"""The official CIFAR-10 python archive: find it, download it (checked by md5), read its batches.

The batches are pickled dicts (Python 2, protocol 2): ``data`` (N, 3072) uint8 rows holding the
red, green and blue 32x32 planes in turn, ``labels`` a list of ints; ``batches.meta`` has
``label_names``. They are read straight from the tar (no extraction) with an unpickler that
admits only the numpy globals an array needs, since a pickle can otherwise run any code.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import logging
import os
import pickle
import tarfile
import urllib.error
import urllib.request
import uuid
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from hardsearch.core.errors import UserError, first_line

ARCHIVE_NAME = "cifar-10-python.tar.gz"
FOLDER_NAME = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
META = "batches.meta"
CACHE_DIR = Path("~/.cache/hardsearch")

_log = logging.getLogger(__name__)

_RECONSTRUCT = np.zeros(1).__reduce__()[0]
_FROMBUFFER = np.zeros(1).__reduce_ex__(5)[0]
_ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,  # numpy 1.x pickles (the official files)
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,  # numpy 2.x
    ("numpy.core.numeric", "_frombuffer"): _FROMBUFFER,  # protocol 5
    ("numpy._core.numeric", "_frombuffer"): _FROMBUFFER,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): codecs.encode,  # bytes in Python 3 pickles of protocol < 3
}


class _BatchUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays, dicts, lists and strings, and refuses every other global."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a CIFAR-10 batch") \
                from None


def _expected(url: str) -> str:
    return (f"allowed: the path of {ARCHIVE_NAME}, a folder holding it or {FOLDER_NAME}/, or "
            f"data.download=true to fetch it from {url}")


def file_md5(path: Path) -> str:
    """Hex md5 of a file, read in 1 MiB chunks."""
    digest = hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def verify(path: Path, md5: str, url: str) -> None:
    """Fail unless the archive at ``path`` has the published md5 (catches truncated copies)."""
    actual = file_md5(path)
    if actual != md5:
        raise UserError(f"data.root: {str(path)!r} has md5 {actual}, expected {md5}; allowed: the "
                        f"unmodified {ARCHIVE_NAME} from {url} (delete the file to download it again)")


def download(url: str, dest: Path, md5: str) -> None:
    """Fetch ``url`` to ``dest`` through a temporary file, checked by md5 before the atomic rename."""
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"data.root: cannot create {str(dest.parent)!r} ({first_line(exc)}); allowed: "
                        "a writable folder for the download") from None
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.part")
    _log.info("downloading %s to %s", url, dest)
    try:
        digest = hashlib.md5()
        with open(tmp, "xb") as out, urllib.request.urlopen(url, timeout=60) as response:
            while chunk := response.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
        actual = digest.hexdigest()
        if actual != md5:
            raise UserError(f"data.download: {url} gave {str(dest)!r} with md5 {actual}, expected {md5}; "
                            f"the download was removed; allowed: the official {ARCHIVE_NAME}")
        os.replace(tmp, dest)
    except OSError as exc:  # URLError and HTTPError are OSErrors
        raise UserError(f"data.download: cannot download {url} to {str(dest)!r} ({first_line(exc)}); "
                        f"allowed: a reachable URL, or the path of {ARCHIVE_NAME} as data.root") from None
    finally:
        tmp.unlink(missing_ok=True)


def locate(root: str | os.PathLike | None, *, download_missing: bool, url: str, md5: str) -> Path:
    """The verified archive or the extracted folder to read; downloads the archive if asked."""
    base = Path(root).expanduser() if root is not None else CACHE_DIR.expanduser()
    if base.is_file():
        verify(base, md5, url)
        return base.resolve()
    if base.is_dir():
        if (base / FOLDER_NAME).is_dir():
            return (base / FOLDER_NAME).resolve()
        if (base / TEST_BATCH).is_file():  # the extracted folder itself
            return base.resolve()
        archive = base / ARCHIVE_NAME
    else:
        archive = base if base.name.endswith((".tar.gz", ".tgz")) else base / ARCHIVE_NAME
    if archive.is_file():
        verify(archive, md5, url)
        return archive.resolve()
    if not download_missing:
        raise UserError(f"data.root: no CIFAR-10 at {str(base)!r} (looked for {ARCHIVE_NAME} and "
                        f"{FOLDER_NAME}/); {_expected(url)}")
    download(url, archive, md5)
    return archive.resolve()


def _read_members(source: Path, names: tuple[str, ...]) -> dict[str, bytes]:
    """The raw bytes of the named batch files, from the archive (one pass) or the extracted folder."""
    if source.is_dir():
        missing = [n for n in names if not (source / n).is_file()]
        if missing:
            raise UserError(f"data.root: {str(source)!r} lacks {', '.join(missing)}; allowed: an "
                            f"extracted {FOLDER_NAME}/ with {', '.join(names)}")
        return {n: (source / n).read_bytes() for n in names}
    found: dict[str, bytes] = {}
    try:
        with tarfile.open(source, "r:gz") as tar:
            for member in tar:
                parent, _, base = member.name.rpartition("/")
                if member.isfile() and base in names and parent.endswith(FOLDER_NAME):
                    found[base] = tar.extractfile(member).read()
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise UserError(f"data.root: cannot read {str(source)!r} ({first_line(exc)}); allowed: the "
                        f"official {ARCHIVE_NAME}") from None
    missing = [n for n in names if n not in found]
    if missing:
        raise UserError(f"data.root: {str(source)!r} lacks {FOLDER_NAME}/{', '.join(missing)}; allowed: "
                        f"the official {ARCHIVE_NAME}")
    return found


def _unpickle(blob: bytes, where: str) -> dict[str, Any]:
    """A batch dict with str keys (Python 2 pickles give str or bytes keys, depending on encoding)."""
    try:
        raw = _BatchUnpickler(io.BytesIO(blob), encoding="latin1").load()
    except Exception as exc:  # a corrupt pickle can raise almost anything
        raise UserError(f"data.root: {where} is not a CIFAR-10 batch ({first_line(exc)})") from None
    if not isinstance(raw, dict):
        raise UserError(f"data.root: {where} is not a CIFAR-10 batch (got {type(raw).__name__}, not a dict)")
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in raw.items()}


def _batch(blob: bytes, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Images NCHW uint8 and int64 labels of one batch; each data row is three 32x32 planes (R, G, B)."""
    batch = _unpickle(blob, where)
    try:
        data = np.asarray(batch["data"], dtype=np.uint8)
        labels = np.asarray(batch["labels"], dtype=np.int64)
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"data.root: {where} is not a CIFAR-10 batch "
                        f"(bad or missing {first_line(exc)})") from None
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or labels.shape != (data.shape[0],):
        raise UserError(f"data.root: {where} is not a CIFAR-10 batch (data {data.shape}, labels "
                        f"{labels.shape}; expected (N, 3072) and (N,))")
    return data.reshape(-1, 3, 32, 32), labels


def read(source: Path) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(classes, train_x NCHW, train_y, test_x NCHW, test_y) from the archive or the extracted folder."""
    blobs = _read_members(source, (*TRAIN_BATCHES, TEST_BATCH, META))
    meta = _unpickle(blobs[META], f"{source}:{META}")
    names = meta.get("label_names")
    if not isinstance(names, list | tuple) or not names:
        raise UserError(f"data.root: {source}:{META} has no label_names list")
    classes = [n.decode("latin1") if isinstance(n, bytes) else str(n) for n in names]
    train = [_batch(blobs[n], f"{source}:{n}") for n in TRAIN_BATCHES]
    test_x, test_y = _batch(blobs[TEST_BATCH], f"{source}:{TEST_BATCH}")
    train_x = np.concatenate([x for x, _ in train])
    train_y = np.concatenate([y for _, y in train])
    for split, y in (("train", train_y), ("test", test_y)):
        if y.size and (y.min() < 0 or y.max() >= len(classes)):
            raise UserError(f"data.root: {source}: {split} labels outside 0..{len(classes) - 1}")
    return classes, train_x, train_y, test_x, test_y
