"""Data sets. Offline: seeded synthetic generators, scikit-learn's bundled digits, MNIST-1D made
procedurally. Online users: MNIST and CIFAR-10 through torchvision into ``data/``.

Every loader returns float64 numpy arrays ``(X_train, y_train, X_test, y_test)`` with integer
labels unless it says otherwise; images keep their (n, C, H, W) shape when ``flatten=False``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DATA_ENV_VAR = "PHENOMENA_DATA"
_REPO_ROOT = Path(__file__).resolve().parents[2]


class DataUnavailable(RuntimeError):
    """A data set's files are absent and cannot be fetched; the message says where and how."""


@dataclass(frozen=True)
class Split:
    """A train/test split. Shapes: X_* (n, ...) float64, y_* (n,) int64."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray

    @property
    def num_classes(self) -> int:
        return int(max(self.y_train.max(), self.y_test.max()) + 1)


def data_dir() -> Path:
    """Where torchvision data sets live: ``$PHENOMENA_DATA`` or ``<repo>/data``."""
    return Path(os.environ.get(DATA_ENV_VAR) or _REPO_ROOT / "data")


def _split(X: np.ndarray, y: np.ndarray, n_test: int, seed: int) -> Split:
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(X))
    test, train = order[:n_test], order[n_test:]
    return Split(X[train], y[train], X[test], y[test])


def digits(*, n_test: int = 497, seed: int = 0, flatten: bool = True, standardize: bool = True) -> Split:
    """scikit-learn's bundled 8x8 digits (1797 images, 10 classes), pixel values scaled to [0, 1].

    ``flatten=False`` gives images of shape (n, 1, 8, 8). ``standardize`` centres each pixel and
    scales by the overall standard deviation (train statistics). Offline, no download.
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    X = bunch.data.astype(np.float64) / 16.0
    y = bunch.target.astype(np.int64)
    split = _split(X, y, n_test, seed)
    Xtr, Xte = split.X_train, split.X_test
    if standardize:
        mean = Xtr.mean(axis=0)
        std = (Xtr - mean).std()
        Xtr, Xte = (Xtr - mean) / std, (Xte - mean) / std
    if not flatten:
        Xtr, Xte = Xtr.reshape(-1, 1, 8, 8), Xte.reshape(-1, 1, 8, 8)
    return Split(Xtr, split.y_train, Xte, split.y_test)


def mnist1d(*, num_samples: int = 5000, seed: int = 42) -> Split:
    """MNIST-1D (Greydanus 2020) generated procedurally by the ``mnist1d`` package: 40-long
    signals, 10 classes, 80/20 split. No download."""
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples = int(num_samples)
    args.seed = int(seed)
    data = make_dataset(args)
    return Split(
        np.asarray(data["x"], dtype=np.float64),
        np.asarray(data["y"], dtype=np.int64),
        np.asarray(data["x_test"], dtype=np.float64),
        np.asarray(data["y_test"], dtype=np.int64),
    )


def gaussian_regression(
    n: int, feature_std: np.ndarray, theta: np.ndarray, noise_std: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """x ~ N(0, diag(feature_std^2)), y = x . theta + N(0, noise_std^2). Shapes (n, d), (n,)."""
    feature_std = np.asarray(feature_std, dtype=np.float64)
    X = rng.standard_normal((n, feature_std.size)) * feature_std
    y = X @ np.asarray(theta, dtype=np.float64) + noise_std * rng.standard_normal(n)
    return X, y


TORCHVISION_SETS = {"mnist": "MNIST", "cifar10": "CIFAR10"}


def torchvision_images(
    name: str, *, train: bool, root: Path | None = None, download: bool = False, limit: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """MNIST or CIFAR-10 through torchvision: images (n, C, H, W) float64 in [0, 1], labels (n,).

    Reads the files torchvision writes under ``root`` (default :func:`data_dir`). When they are
    absent and ``download`` is False, or the download fails offline, raises :class:`DataUnavailable`
    naming the folder and the command that fetches them.
    """
    import torchvision

    if name not in TORCHVISION_SETS:
        raise DataUnavailable(
            f"The 'name' parameter must be one of {', '.join(map(repr, TORCHVISION_SETS))}. Got {name!r} instead."
        )
    root = Path(root or data_dir())
    cls = getattr(torchvision.datasets, TORCHVISION_SETS[name])
    try:
        ds = cls(str(root), train=train, download=download)
    except RuntimeError as err:  # torchvision: "Dataset not found or corrupted"
        raise DataUnavailable(
            f"{TORCHVISION_SETS[name]} is not in {root} ({err}). On a machine with internet run "
            f"`python -m engine data {name}` (or pass download=True), then copy the folder here."
        ) from None
    except OSError as err:  # download attempted without a network
        raise DataUnavailable(
            f"Could not download {TORCHVISION_SETS[name]} into {root}: {err}. Copy the files there by hand."
        ) from None
    images = np.asarray(ds.data)
    labels = np.asarray(ds.targets, dtype=np.int64)
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    images = images.astype(np.float64) / 255.0
    if images.ndim == 3:  # MNIST: (n, 28, 28)
        images = images[:, None]
    else:  # CIFAR-10: (n, 32, 32, 3)
        images = images.transpose(0, 3, 1, 2)
    return np.ascontiguousarray(images), labels
