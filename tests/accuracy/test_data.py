"""hardsearch.accuracy.data: the packaged sample, the CIFAR-10 archive, image folders, noise, batches."""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import os
import pickle
import struct
import subprocess
import sys
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, features

import hardsearch.accuracy.data as data_mod
from hardsearch.accuracy.data import (
    CIFAR10_CLASSES,
    SOURCES,
    ImageData,
    load_data,
    load_data_options,
    normalise,
    proxy_batch,
)
from hardsearch.accuracy.data import _cifar10 as cifar_mod
from hardsearch.accuracy.data.build_sample import TEST_PER_CLASS, TRAIN_PER_CLASS, build_sample, main
from hardsearch.core.errors import UserError
from hardsearch.core.paths import ROOT

SAMPLE_PATH = Path(data_mod.__file__).parent / data_mod.SAMPLE_FILE


def one_line(excinfo: pytest.ExceptionInfo, *parts: str) -> str:
    """The error's message, checked to be one line that contains every part."""
    message = str(excinfo.value)
    assert "\n" not in message and message.strip() == message, message
    for part in parts:
        assert part in message, f"{part!r} not in {message!r}"
    return message


# --- the packaged sample ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sample() -> ImageData:
    return load_data()


def test_sample_shapes_dtypes_and_classes(sample):
    n_train, n_test = 10 * TRAIN_PER_CLASS, 10 * TEST_PER_CLASS
    assert sample.name == "cifar10_sample"
    assert sample.classes == CIFAR10_CLASSES == ("airplane", "automobile", "bird", "cat", "deer", "dog",
                                                 "frog", "horse", "ship", "truck")
    assert sample.num_classes == 10 and sample.resolution == 32
    assert sample.train_x.shape == (n_train, 3, 32, 32) and sample.train_x.dtype == torch.uint8
    assert sample.test_x.shape == (n_test, 3, 32, 32) and sample.test_x.dtype == torch.uint8
    assert sample.train_y.dtype == sample.test_y.dtype == torch.int64
    assert sample.train_y.bincount().tolist() == [TRAIN_PER_CLASS] * 10
    assert sample.test_y.bincount().tolist() == [TEST_PER_CLASS] * 10
    assert sample.train_x.is_contiguous()
    x = sample.train_x.double() / 255
    assert sample.mean == pytest.approx(x.mean(dim=(0, 2, 3)).tolist(), abs=1e-9)
    assert sample.std == pytest.approx(x.std(dim=(0, 2, 3), unbiased=False).tolist(), abs=1e-9)
    assert 0.4 < sample.mean[0] < 0.6 and 0.2 < sample.std[0] < 0.3  # CIFAR-10 statistics
    assert "classes=10" in repr(sample) and "tensor" not in repr(sample)


def test_sample_file_is_small():
    assert SAMPLE_PATH.is_file()
    assert SAMPLE_PATH.stat().st_size <= 3_200_000


def test_sample_needs_no_network_and_no_shared_folder(tmp_path):
    """In a fresh interpreter, loading the sample opens nothing under ../shared and no socket."""
    shared = str((ROOT.parent / "shared").resolve())
    script = f"""
import sys
events = []
def hook(event, args):
    if event == "open" and isinstance(args[0], str) and args[0].startswith({shared!r}):
        events.append(args[0])
    if event.startswith("socket."):
        events.append(event)
sys.addaudithook(hook)
from hardsearch.accuracy.data import load_data
data = load_data()
assert len(data.train_y) > 0
print("EVENTS", events)
"""
    env = {**os.environ, "HARDSEARCH_CIFAR10_SUBSET": str(tmp_path / "missing")}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env,
                         cwd=tmp_path, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "EVENTS []" in out.stdout


def test_sample_upsampled(sample):
    big = load_data(resolution=64)
    assert big.train_x.shape == (len(sample.train_y), 3, 64, 64) and big.resolution == 64
    assert torch.equal(big.train_y, sample.train_y)
    assert big.mean == pytest.approx(sample.mean, abs=2e-3)
    small = load_data(resolution=16)
    assert small.test_x.shape == (len(sample.test_y), 3, 16, 16)


def test_rebuild_sample_is_identical(tmp_path, cifar10_folder):
    source = cifar10_folder
    out = build_sample(source, tmp_path / "sample.npz")
    with np.load(out) as new, np.load(SAMPLE_PATH) as packaged:
        keys = ["classes", "test_x", "test_y", "train_x", "train_y"]
        assert sorted(new.files) == sorted(packaged.files) == keys
        for key in packaged.files:
            assert new[key].dtype == packaged[key].dtype, key
            assert np.array_equal(new[key], packaged[key]), key
        assert packaged["train_x"].shape == (10 * TRAIN_PER_CLASS, 32, 32, 3)


def test_build_sample_command_line(tmp_path, capsys, cifar10_folder):
    source = cifar10_folder
    main(["--source", str(source), "--train-per-class", "2", "--test-per-class", "1",
          "--out", str(tmp_path / "tiny.npz")])
    assert "wrote" in capsys.readouterr().out
    with np.load(tmp_path / "tiny.npz") as z:
        assert z["train_x"].shape == (20, 32, 32, 3) and z["test_y"].tolist() == list(range(10))
    with pytest.raises(SystemExit) as exit_info:
        main(["--source", str(tmp_path / "nowhere"), "--out", str(tmp_path / "x.npz")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "--source" in err and "nowhere" in err and "HARDSEARCH_CIFAR10_SUBSET" in err
    assert not (tmp_path / "x.npz").exists()


def test_build_sample_too_many_per_class(tmp_path, cifar10_folder):
    source = cifar10_folder
    with pytest.raises(UserError) as excinfo:
        build_sample(source, tmp_path / "x.npz", test_per_class=100_000)
    one_line(excinfo, "--test-per-class", "100000", "allowed: at most")


# --- the official CIFAR-10 archive ----------------------------------------------------------------

class Py2Pickler(pickle._Pickler):
    """Pickles bytes with Python 2 str opcodes, as the official (Python 2, protocol 2) batches are."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_py2_str(self, obj: bytes) -> None:
        n = len(obj)
        self.write(pickle.SHORT_BINSTRING + bytes([n]) + obj if n < 256
                   else pickle.BINSTRING + struct.pack("<i", n) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_py2_str


def py2_pickle(obj: object) -> bytes:
    buf = io.BytesIO()
    Py2Pickler(buf, protocol=2).dump(obj)
    # numpy 1.x, which wrote the official files, lives at numpy.core; numpy 2 writes numpy._core
    return buf.getvalue().replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")


def pixel(i: int, c: int, h: int, w: int) -> int:
    """A value unique enough to catch any mix-up of image, channel, row and column."""
    return (7 * i + 60 * c + 3 * h + w) % 256


def fake_rows(first: int, count: int) -> np.ndarray:
    i, c, h, w = np.meshgrid(np.arange(first, first + count), np.arange(3), np.arange(32), np.arange(32),
                             indexing="ij")
    return pixel(i, c, h, w).astype(np.uint8).reshape(count, 3072)  # CHW rows, as the official data


FAKE_TRAIN_PER_BATCH, FAKE_TEST = 3, 4


def fake_members() -> dict[str, bytes]:
    members = {}
    for b in range(5):
        first = b * FAKE_TRAIN_PER_BATCH
        members[f"data_batch_{b + 1}"] = py2_pickle({
            b"batch_label": f"training batch {b + 1} of 5".encode(),
            b"labels": [(first + k) % 10 for k in range(FAKE_TRAIN_PER_BATCH)],
            b"data": fake_rows(first, FAKE_TRAIN_PER_BATCH),
            b"filenames": [f"img_{first + k}.png".encode() for k in range(FAKE_TRAIN_PER_BATCH)],
        })
    members["test_batch"] = py2_pickle({b"batch_label": b"testing batch 1 of 1", b"labels": [9, 8, 7, 6],
                                        b"data": fake_rows(100, FAKE_TEST),
                                        b"filenames": [b"t%d.png" % k for k in range(FAKE_TEST)]})
    members["batches.meta"] = py2_pickle({b"num_cases_per_batch": FAKE_TRAIN_PER_BATCH,
                                          b"label_names": [n.encode() for n in CIFAR10_CLASSES],
                                          b"num_vis": 3072})
    members["readme.html"] = b"<html></html>"
    return members


def write_fake_archive(path: Path, members: dict[str, bytes] | None = None) -> str:
    """A tar.gz in the official layout; returns its md5."""
    members = fake_members() if members is None else members
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        folder = tarfile.TarInfo("cifar-10-batches-py")
        folder.type, folder.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(folder)
        for name, blob in members.items():
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture
def fake_archive(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "src" / cifar_mod.ARCHIVE_NAME
    monkeypatch.setattr(data_mod, "CIFAR10_MD5", write_fake_archive(path))
    return path


def check_fake(data: ImageData) -> None:
    n_train = 5 * FAKE_TRAIN_PER_BATCH
    assert data.classes == CIFAR10_CLASSES
    assert data.train_x.shape == (n_train, 3, 32, 32) and data.train_x.dtype == torch.uint8
    assert data.test_x.shape == (FAKE_TEST, 3, 32, 32)
    assert data.train_y.tolist() == [k % 10 for k in range(n_train)] and data.train_y.dtype == torch.int64
    assert data.test_y.tolist() == [9, 8, 7, 6]
    probes = [(0, 0, 0, 0), (0, 1, 0, 0), (0, 2, 5, 9), (4, 0, 31, 0), (14, 2, 17, 30), (7, 1, 3, 31)]
    for i, c, h, w in probes:
        assert int(data.train_x[i, c, h, w]) == pixel(i, c, h, w), (i, c, h, w)
    assert int(data.test_x[2, 1, 4, 5]) == pixel(102, 1, 4, 5)


def test_fake_batches_look_official():
    blob = fake_members()["data_batch_1"]
    assert blob.startswith(b"\x80\x02}") and b"U\x04data" in blob
    assert b"cnumpy.core.multiarray\n_reconstruct" in blob and b"_codecs" not in blob


def test_cifar10_from_archive_path(fake_archive):
    data = load_data("cifar10", root=fake_archive)
    check_fake(data)
    assert data.name == f"cifar10:{fake_archive.resolve()}"


def test_cifar10_from_folder_holding_archive(fake_archive):
    check_fake(load_data("cifar10", root=str(fake_archive.parent)))


def test_cifar10_from_extracted_folder(fake_archive, tmp_path):
    with tarfile.open(fake_archive) as tar:
        tar.extractall(tmp_path / "extracted", filter="data")
    check_fake(load_data("cifar10", root=tmp_path / "extracted"))
    check_fake(load_data("cifar10", root=tmp_path / "extracted" / "cifar-10-batches-py"))


def test_cifar10_resized(fake_archive):
    data = load_data("cifar10", root=fake_archive, resolution=48)
    assert data.train_x.shape == (15, 3, 48, 48) and data.test_x.shape == (4, 3, 48, 48)


def test_cifar10_md5_mismatch(fake_archive, monkeypatch):
    actual = data_mod.CIFAR10_MD5
    monkeypatch.setattr(data_mod, "CIFAR10_MD5", "0" * 32)
    with pytest.raises(UserError) as excinfo:
        load_data("cifar10", root=fake_archive)
    one_line(excinfo, "data.root", str(fake_archive), actual, "0" * 32, "allowed:")
    assert fake_archive.is_file()  # the user's own file is never deleted


def test_cifar10_refuses_foreign_pickles(tmp_path, monkeypatch):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    members = fake_members()
    members["test_batch"] = pickle.dumps({b"data": Evil()}, protocol=2)
    path = tmp_path / cifar_mod.ARCHIVE_NAME
    monkeypatch.setattr(data_mod, "CIFAR10_MD5", write_fake_archive(path, members))
    with pytest.raises(UserError) as excinfo:
        load_data("cifar10", root=path)
    one_line(excinfo, "data.root", "test_batch", "not a CIFAR-10 batch", "not allowed")


def test_cifar10_archive_missing_a_batch(tmp_path, monkeypatch):
    members = fake_members()
    del members["data_batch_3"]
    path = tmp_path / cifar_mod.ARCHIVE_NAME
    monkeypatch.setattr(data_mod, "CIFAR10_MD5", write_fake_archive(path, members))
    with pytest.raises(UserError) as excinfo:
        load_data("cifar10", root=path)
    one_line(excinfo, "data.root", str(path), "data_batch_3")


def test_cifar10_missing_without_download(tmp_path, monkeypatch):
    with pytest.raises(UserError) as excinfo:
        load_data("cifar10", root=tmp_path / "nothing-here")
    one_line(excinfo, "data.root", str(tmp_path / "nothing-here"), "cifar-10-python.tar.gz",
             "data.download=true", data_mod.CIFAR10_URL)
    monkeypatch.setattr(cifar_mod, "CACHE_DIR", tmp_path / "cache")
    with pytest.raises(UserError) as excinfo:
        load_data("cifar10")
    one_line(excinfo, str(tmp_path / "cache"), "data.download=true")


@pytest.fixture
def http_server(tmp_path, monkeypatch):
    """A local HTTP server on a thread, serving tmp_path/www; yields (folder, base URL)."""
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "*")
    www = tmp_path / "www"
    www.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(www)))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield www, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_cifar10_download(http_server, tmp_path, monkeypatch):
    www, base = http_server
    md5 = write_fake_archive(www / cifar_mod.ARCHIVE_NAME)
    monkeypatch.setattr(data_mod, "CIFAR10_URL", f"{base}/{cifar_mod.ARCHIVE_NAME}")
    monkeypatch.setattr(data_mod, "CIFAR10_MD5", md5)
    renames = []
    real_replace = os.replace

    def spy_replace(src, dst):  # the archive appears whole, in one rename, after the md5 check
        renames.append((Path(dst).exists(), hashlib.md5(Path(src).read_bytes()).hexdigest(), Path(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(cifar_mod.os, "replace", spy_replace)
    dest = tmp_path / "data" / "cifar"
    data = load_data("cifar10", root=dest, download=True)
    check_fake(data)
    assert renames == [(False, md5, dest / cifar_mod.ARCHIVE_NAME)]
    assert sorted(p.name for p in dest.iterdir()) == [cifar_mod.ARCHIVE_NAME]
    check_fake(load_data("cifar10", root=dest, download=True))  # found now: no second download
    assert len(renames) == 1


def test_cifar10_download_to_cache(http_server, tmp_path, monkeypatch):
    www, base = http_server
    md5 = write_fake_archive(www / "renamed.tar.gz")
    monkeypatch.setattr(data_mod, "CIFAR10_URL", f"{base}/renamed.tar.gz")
    monkeypatch.setattr(data_mod, "CIFAR10_MD5", md5)
    monkeypatch.setattr(cifar_mod, "CACHE_DIR", tmp_path / "cache")
    check_fake(load_data("cifar10", download=True))
    assert (tmp_path / "cache" / cifar_mod.ARCHIVE_NAME).is_file()


def test_cifar10_download_wrong_checksum(http_server, tmp_path, monkeypatch):
    www, base = http_server
    actual = write_fake_archive(www / cifar_mod.ARCHIVE_NAME)
    url = f"{base}/{cifar_mod.ARCHIVE_NAME}"
    monkeypatch.setattr(data_mod, "CIFAR10_URL", url)
    monkeypatch.setattr(data_mod, "CIFAR10_MD5", "f" * 32)
    dest = tmp_path / "dl"
    with pytest.raises(UserError) as excinfo:
        load_data("cifar10", root=dest, download=True)
    one_line(excinfo, "data.download", url, str(dest / cifar_mod.ARCHIVE_NAME), actual, "f" * 32)
    assert list(dest.iterdir()) == []


def test_cifar10_download_http_error(http_server, tmp_path, monkeypatch):
    _, base = http_server
    monkeypatch.setattr(data_mod, "CIFAR10_URL", f"{base}/missing.tar.gz")
    dest = tmp_path / "dl"
    with pytest.raises(UserError) as excinfo:
        load_data("cifar10", root=dest, download=True)
    one_line(excinfo, "data.download", f"{base}/missing.tar.gz", "404")
    assert list(dest.iterdir()) == []


# --- image folders --------------------------------------------------------------------------------

COLOURS = {"cat": [(200, 10, 10), (190, 20, 20), (180, 30, 30), (170, 40, 40), (160, 50, 50), (150, 60, 60)],
           "dog": [(10, 200, 10), (20, 190, 20), (30, 180, 30), (40, 170, 40), (50, 160, 50)]}
EXTENSIONS = [".png", ".PNG", ".bmp", ".png", ".Png", ".bmp"]


def write_class_folder(folder: Path, colours: list[tuple[int, int, int]],
                       size: tuple[int, int] = (12, 10)) -> None:
    folder.mkdir(parents=True)
    for k, colour in enumerate(colours):
        Image.new("RGB", size, colour).save(folder / f"{k:04d}{EXTENSIONS[k]}")
    (folder / "notes.txt").write_text("not an image")
    (folder / ".hidden.png").write_bytes(b"ignored")


def plain_folder(root: Path) -> Path:
    for name, colours in COLOURS.items():
        write_class_folder(root / name, colours)
    (root / ".cache").mkdir()
    return root


def test_imagefolder_plain_layout_holds_out_every_fifth(tmp_path):
    root = plain_folder(tmp_path / "flat")
    data = load_data("imagefolder", root=root, resolution=8)
    assert data.name == f"imagefolder:{root.resolve()}"
    assert data.classes == ("cat", "dog")
    assert data.train_x.shape == (9, 3, 8, 8) and data.test_x.shape == (2, 3, 8, 8)
    assert data.train_y.tolist() == [0] * 5 + [1] * 4 and data.test_y.tolist() == [0, 1]
    # solid colours survive the resize exactly; the held-out image is the 5th by name
    assert data.test_x[0, :, 3, 3].tolist() == list(COLOURS["cat"][4])
    assert data.test_x[1, :, 0, 7].tolist() == list(COLOURS["dog"][4])
    expected_train = [c for i, c in enumerate(COLOURS["cat"]) if i != 4] + COLOURS["dog"][:4]
    assert [tuple(x[:, 5, 2].tolist()) for x in data.train_x] == expected_train
    x = data.train_x.double() / 255
    assert data.mean == pytest.approx(x.mean(dim=(0, 2, 3)).tolist(), abs=1e-9)


def test_imagefolder_split_layout_and_other_formats(tmp_path):
    root = tmp_path / "split"
    write_class_folder(root / "train" / "b", [(1, 2, 3), (4, 5, 6)], size=(40, 40))
    write_class_folder(root / "train" / "a", [(7, 8, 9)], size=(40, 40))
    write_class_folder(root / "val" / "a", [(10, 11, 12)], size=(40, 40))
    (root / "val" / "b").mkdir()
    Image.new("RGB", (40, 40), (99, 98, 97)).save(root / "val" / "b" / "x.JPEG", quality=100)
    Image.new("L", (40, 40), 50).save(root / "val" / "b" / "y.jpg")  # greyscale becomes RGB
    if features.check("webp"):
        Image.new("RGBA", (40, 40), (5, 6, 7, 255)).save(root / "val" / "b" / "z.webp", lossless=True)
    data = load_data("imagefolder", root=root, resolution=32)
    assert data.classes == ("a", "b")
    assert data.train_y.tolist() == [0, 1, 1] and data.train_x.shape == (3, 3, 32, 32)
    assert data.train_x[1, :, 16, 16].tolist() == [1, 2, 3]
    n_test = 4 if features.check("webp") else 3
    assert data.test_y.tolist() == [0] + [1] * (n_test - 1)
    assert np.allclose(data.test_x[1, :, 16, 16].tolist(), [99, 98, 97], atol=3)
    assert data.test_x[2, :, 16, 16].tolist() == [50, 50, 50]
    if features.check("webp"):
        assert data.test_x[3, :, 16, 16].tolist() == [5, 6, 7]


def test_imagefolder_prefers_test_over_val(tmp_path):
    root = tmp_path / "both"
    write_class_folder(root / "train" / "a", [(1, 1, 1)])
    write_class_folder(root / "test" / "a", [(2, 2, 2)])
    write_class_folder(root / "val" / "a", [(3, 3, 3)])
    assert load_data("imagefolder", root=root, resolution=4).test_x[0, 0, 0, 0] == 2


def test_imagefolder_class_mismatch(tmp_path):
    root = tmp_path / "mismatch"
    write_class_folder(root / "train" / "cat", [(1, 1, 1)])
    write_class_folder(root / "train" / "dog", [(1, 1, 1)])
    write_class_folder(root / "test" / "cat", [(1, 1, 1)])
    write_class_folder(root / "test" / "cow", [(1, 1, 1)])
    with pytest.raises(UserError) as excinfo:
        load_data("imagefolder", root=root)
    one_line(excinfo, "data.root", str(root / "train"), str(root / "test"), "only in train: dog",
             "only in test: cow", "allowed:")


def test_imagefolder_empty_class(tmp_path):
    root = plain_folder(tmp_path / "flat")
    (root / "empty").mkdir()
    (root / "empty" / "readme.txt").write_text("no images")
    with pytest.raises(UserError) as excinfo:
        load_data("imagefolder", root=root)
    one_line(excinfo, "data.root", str(root / "empty"), "no images", "allowed:", ".jpg", ".png")


def test_imagefolder_unreadable_image(tmp_path):
    root = plain_folder(tmp_path / "flat")
    bad = root / "dog" / "0002.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n but not really")
    with pytest.raises(UserError) as excinfo:
        load_data("imagefolder", root=root)
    one_line(excinfo, "data.root", str(bad), "cannot read", "allowed:")


@pytest.mark.parametrize("case", ["missing", "file", "no classes", "train only", "val only"])
def test_imagefolder_bad_roots(tmp_path, case):
    root = tmp_path / "root"
    expected = {"missing": "does not exist", "file": "is not a directory",
                "no classes": "no class sub-folders", "train only": "has train/ but no test/ or val/",
                "val only": "has val/ but no train/"}[case]
    if case == "file":
        root.write_text("x")
    elif case == "no classes":
        root.mkdir()
        Image.new("RGB", (4, 4)).save(root / "loose.png")
    elif case == "train only":
        write_class_folder(root / "train" / "a", [(1, 1, 1)])
    elif case == "val only":
        write_class_folder(root / "val" / "a", [(1, 1, 1)])
    with pytest.raises(UserError) as excinfo:
        load_data("imagefolder", root=root)
    one_line(excinfo, "data.root", str(root), expected, "allowed:")


def test_imagefolder_reads_real_images_exactly(sample, cifar10_folder):
    """The packaged sample written as a train/test folder of PNGs reads back pixel for pixel."""
    data = load_data("imagefolder", root=cifar10_folder)
    assert data.classes == CIFAR10_CLASSES
    n_train, n_test = 10 * TRAIN_PER_CLASS, 10 * TEST_PER_CLASS
    assert data.train_x.shape == (n_train, 3, 32, 32) and data.test_x.shape == (n_test, 3, 32, 32)
    assert data.train_y.bincount().tolist() == [TRAIN_PER_CLASS] * 10
    assert data.test_y.bincount().tolist() == [TEST_PER_CLASS] * 10
    for c in range(10):
        assert torch.equal(data.train_x[data.train_y == c], sample.train_x[sample.train_y == c])
        assert torch.equal(data.test_x[data.test_y == c], sample.test_x[sample.test_y == c])


# --- noise, normalise, proxy batches --------------------------------------------------------------

def test_noise_source():
    data = load_data("noise", resolution=24, num_classes=7)
    assert data.name == "noise" and data.classes == tuple(f"class{i}" for i in range(7))
    assert data.train_x.shape == data.test_x.shape == (0, 3, 24, 24) and data.train_x.dtype == torch.uint8
    assert data.train_y.shape == (0,) and data.resolution == 24 and data.num_classes == 7
    x, y = proxy_batch(data, batch_size=512, seed=3)
    assert x.shape == (512, 3, 24, 24) and x.dtype == torch.float32
    assert y.shape == (512,) and y.dtype == torch.int64 and 0 <= int(y.min()) and int(y.max()) < 7
    assert set(y.tolist()) == set(range(7))
    assert abs(float(x.mean())) < 0.01 and abs(float(x.std()) - 1) < 0.01
    gen = torch.Generator().manual_seed(3)
    assert torch.equal(x, torch.randn((512, 3, 24, 24), generator=gen))
    assert torch.equal(y, torch.randint(0, 7, (512,), generator=gen))


def test_normalise(sample):
    x = normalise(sample, sample.train_x)
    assert x.dtype == torch.float32 and x.shape == sample.train_x.shape
    assert x.mean(dim=(0, 2, 3)).abs().max() < 1e-4 and (x.std(dim=(0, 2, 3)) - 1).abs().max() < 1e-3
    white = torch.full((3, 2, 2), 255, dtype=torch.uint8)
    assert normalise(sample, white)[1, 0, 0] == pytest.approx((1 - sample.mean[1]) / sample.std[1])
    with pytest.raises(ValueError, match="x_uint8"):
        normalise(sample, sample.train_x.float())


def test_proxy_batch_deterministic_and_seeded(sample):
    x1, y1 = proxy_batch(sample, batch_size=32, seed=5)
    x2, y2 = proxy_batch(sample, batch_size=32, seed=5)
    x3, y3 = proxy_batch(sample, batch_size=32, seed=6)
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    assert not torch.equal(x1, x3)
    assert x1.shape == (32, 3, 32, 32) and x1.dtype == torch.float32 and y1.dtype == torch.int64


@pytest.mark.parametrize("batch_size", [1, 10, 64, 250])
def test_proxy_batch_class_balanced(sample, batch_size):
    x, y = proxy_batch(sample, batch_size=batch_size, seed=1)
    counts = y.bincount(minlength=10)
    assert int(counts.max() - counts.min()) <= 1 and int(counts.sum()) == batch_size
    # inputs are the normalised images of their labels' classes, distinct while a class lasts
    rows = {tuple(r) for r in normalise(sample, sample.train_x).flatten(1)[:, :8].tolist()}
    assert all(tuple(r) in rows for r in x.flatten(1)[:, :8].tolist())
    assert len({tuple(r) for r in x.flatten(1)[:, :64].tolist()}) == batch_size


def test_proxy_batch_whole_epoch_is_normalised(sample):
    n = len(sample.train_y)
    x, y = proxy_batch(sample, batch_size=n, seed=0)
    assert y.bincount().tolist() == [TRAIN_PER_CLASS] * 10
    assert x.mean(dim=(0, 2, 3)).abs().max() < 1e-4 and (x.std(dim=(0, 2, 3)) - 1).abs().max() < 1e-3
    # beyond the class size the classes are drawn again, still balanced
    _, y_more = proxy_batch(sample, batch_size=2 * n + 10, seed=0)
    assert y_more.bincount().tolist() == [2 * TRAIN_PER_CLASS + 1] * 10


def test_proxy_batch_leaves_global_rng_alone(sample):
    torch.manual_seed(123)
    np.random.seed(123)
    before = torch.get_rng_state(), np.random.get_state()[1].copy()
    proxy_batch(sample, batch_size=16, seed=9)
    proxy_batch(load_data("noise"), batch_size=16, seed=9)
    assert torch.equal(torch.get_rng_state(), before[0])
    assert np.array_equal(np.random.get_state()[1], before[1])


@pytest.mark.parametrize("kwargs,parts", [
    ({"batch_size": 0}, ["batch_size", "got 0", "allowed: an integer >= 1"]),
    ({"batch_size": 2.0}, ["batch_size", "got 2.0", "allowed:"]),
    ({"seed": "1"}, ["seed", "got '1'", "allowed: an integer"]),
    ({"seed": 2**64}, ["seed", str(2**64), "allowed: an integer"]),
])
def test_proxy_batch_bad_options(sample, kwargs, parts):
    with pytest.raises(UserError) as excinfo:
        proxy_batch(sample, **kwargs)
    one_line(excinfo, *parts)


# --- option errors --------------------------------------------------------------------------------

@pytest.mark.parametrize("args,kwargs,parts", [
    (("foo",), {}, ["data.source", "got 'foo'", "allowed: cifar10_sample, cifar10, imagefolder, noise"]),
    ((), {"resolution": 0}, ["data.resolution", "got 0", "allowed: an integer >= 1"]),
    ((), {"resolution": True}, ["data.resolution", "got True", "allowed:"]),
    ((), {"resolution": 32.0}, ["data.resolution", "got 32.0", "allowed:"]),
    (("noise",), {"num_classes": 0}, ["data.num_classes", "got 0", "allowed: an integer >= 1"]),
    (("cifar10",), {"download": "yes"}, ["data.download", "got 'yes'", "allowed: true or false"]),
    (("cifar10",), {"root": 5}, ["data.root", "got 5", "allowed: a path or null"]),
    ((), {"root": "/data/mine"}, ["data.root", "'/data/mine'", "cifar10_sample", "allowed: null"]),
    (("noise",), {"root": "x"}, ["data.root", "data.source=noise", "allowed: null"]),
    (("imagefolder",), {}, ["data.root", "got None", "imagefolder", "allowed: a folder"]),
])
def test_load_data_bad_options(args, kwargs, parts):
    with pytest.raises(UserError) as excinfo:
        load_data(*args, **kwargs)
    one_line(excinfo, *parts)


def test_load_data_options():
    data = load_data_options({"source": "noise", "root": None, "resolution": 8, "batch_size": 4,
                              "download": False, "num_classes": 3})
    assert data.name == "noise" and data.resolution == 8 and data.num_classes == 3
    assert load_data_options({}).name == "cifar10_sample"
    with pytest.raises(UserError) as excinfo:
        load_data_options({"source": "noise", "colour": "red"})
    one_line(excinfo, "data.colour", "unknown key", "allowed keys: source, root, resolution, download")
    with pytest.raises(UserError) as excinfo:
        load_data_options({"source": "noise", "batch_size": 0})
    one_line(excinfo, "data.batch_size", "got 0", "allowed: an integer >= 1")


def test_sources_constant():
    assert SOURCES == ("cifar10_sample", "cifar10", "imagefolder", "noise")
