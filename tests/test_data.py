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
