"""The double-descent experiments' configs, each field's constraint declared beside its default,
and their cost models (peak memory and laptop-core seconds, checked before a run starts)."""

from __future__ import annotations

from dataclasses import dataclass

from engine.core.experiment import Cost
from engine.core.params import Boolean, Interval, Options, Tuple, Validated, param
from engine.phenomena.double_descent.science import two_group_model

_SEED = Interval(int, 0, 2**32 - 1)
_CORE_FLOPS = 1e10  # float32 matmul flop/s of one laptop core (the estimates' time unit)
DATASETS = ("digits", "mnist1d", "cifar10", "fashion_mnist")
_TRAIN_SIZE = {
    "digits": (1300, 64),
    "mnist1d": (4000, 40),
    "cifar10": (50_000, 3 * 32 * 32),
    "fashion_mnist": (60_000, 28 * 28),
}


@dataclass(frozen=True, kw_only=True)
class LinearConfig(Validated):
    """The linear model with a fast and a slow group of features (the paper's Fig. 2, enlarged)."""

    n: int = param(100, Interval(int, 1, 100_000))  # training samples
    noise_std: float = param(1.0, Interval(float, 0.0, 100.0))  # std of the label noise z
    d_fast: int = param(20, Interval(int, 1, 500))  # features of std 1
    d_slow: int = param(5, Interval(int, 1, 500))  # features of std 1 / scale_ratio
    scale_ratio: float = param(
        20.0, Interval(float, 1.0, 1000.0)
    )  # std fast / std slow; time scales differ by its square
    signal_fast: float = param(
        0.2, Interval(float, 0.0, 1000.0)
    )  # share of Var(<x, theta>) in the fast group
    signal_slow: float = param(
        0.4, Interval(float, 0.0, 1000.0)
    )  # share of Var(<x, theta>) in the slow group
    lr: float = param(
        0.1, Interval(float, 0.0, 100.0, closed="right")
    )  # step size of the fast group (of all, unscaled)
    scaled: bool = param(True, Boolean())  # also run with the slow group's step size multiplied by lr_factor
    lr_factor: float = param(
        0.0, Interval(float, 0.0, 1e8)
    )  # slow group's multiplier; 0 = equalise (scale_ratio^2)
    t_max: int = param(100_000, Interval(int, 1, 10**9))  # last GD step drawn
    points: int = param(200, Interval(int, 2, 20_000))  # log-spaced time points
    sim_seeds: int = param(
        20, Interval(int, 0, 1000)
    )  # sampled training sets for simulated GD (0 = closed form only)
    seed: int = param(0, _SEED)  # seed of the sampled training sets

    def model(self):
        return two_group_model(
            d_fast=self.d_fast,
            d_slow=self.d_slow,
            scale_ratio=self.scale_ratio,
            signal_fast=self.signal_fast,
            signal_slow=self.signal_slow,
            lr=self.lr,
            lr_factor=self.lr_factor,
        )


def estimate_linear(c: LinearConfig) -> Cost:
    """Peak bytes: closed form (T, d) arrays and the simulation's (S, T, d) iterates; time: the
    (S, T, d) x (d, d) products, twice with scaling."""
    d, T, S = c.d_fast + c.d_slow, c.points + 1, c.sim_seeds
    runs = 2 if c.scaled else 1
    flops = runs * (S * (c.n * d * d + 10 * d**3) + 6 * S * T * d * d + 20 * T * d)
    return Cost(
        bytes=8.0 * (6 * T * d + S * c.n * d + 6 * S * T * d) + 50e6,
        seconds=0.02 + flops / 1e9,
        drivers=("sim_seeds", "points", "d_fast", "d_slow", "n"),
    )


@dataclass(frozen=True, kw_only=True)
class TwoLayerConfig(Validated):
    """The paper's Fig. 3: Linear(d, hidden) -> ReLU -> Linear(hidden, 1), full-batch GD on summed MSE."""

    d: int = param(50, Interval(int, 1, 4096))  # input dimension
    hidden: int = param(250, Interval(int, 1, 65536))  # hidden units
    n: int = param(100, Interval(int, 1, 100_000))  # training samples
    n_test: int = param(1000, Interval(int, 1, 1_000_000))  # test samples for the L1 risk
    s_max: float = param(4.0, Interval(float, 1.0, 1000.0))  # feature stds are geometric from 1 to s_max
    noise_std: float = param(0.0, Interval(float, 0.0, 1000.0))  # label noise std (the paper: none)
    lr_second: float = param(
        8e-5, Interval(float, 0.0, 10.0, closed="right")
    )  # 2nd layer's step (both, same-step run)
    lr_first_scaled: float = param(
        1e-6, Interval(float, 0.0, 10.0, closed="right")
    )  # 1st layer's step, scaled run
    init_second: float = param(
        0.01, Interval(float, 0.0, 10.0)
    )  # the second layer's init is multiplied by this
    steps: int = param(50_000, Interval(int, 1, 10**7))  # full-batch GD steps
    points: int = param(120, Interval(int, 2, 10_000))  # log-spaced evaluation points
    seed: int = param(12, _SEED)  # data and init seed


def estimate_two_layer(c: TwoLayerConfig) -> Cost:
    """Peak bytes: data, test activations (n_test, hidden), parameters and gradients (float64);
    time: two runs of ``steps`` full-batch steps plus ``points`` test evaluations."""
    data = (c.n + c.n_test) * (c.d + 2 * c.hidden)
    params = 3 * c.hidden * (c.d + 2)
    step = 3e-4 + 6 * c.n * c.d * c.hidden / 2e9
    evaluate = 2 * c.n_test * c.d * c.hidden / 2e9
    return Cost(
        bytes=8.0 * (data + params) + 50e6,
        seconds=2 * (c.steps * step + c.points * evaluate),
        drivers=("n_test", "d", "hidden", "n", "steps"),
    )


@dataclass(frozen=True, kw_only=True)
class NetworkConfig(Validated):
    """A classifier trained with symmetric label noise by SGD (no momentum) and lr0/sqrt(1 + it/decay)."""

    dataset: str = param(
        "digits", Options(DATASETS)
    )  # digits (offline, 8x8), mnist1d (offline, 40-long), cifar10, fashion_mnist (28x28)
    arch: str = param(
        "mlp", Options(("mlp", "cnn"))
    )  # "mlp" (two hidden layers) or "cnn" (the paper's 5-layer CNN)
    width: int = param(256, Interval(int, 1, 4096))  # MLP hidden width, or CNN base width w (the paper: 64)
    label_noise: float = param(
        0.2, Interval(float, 0.0, 0.9)
    )  # fraction of training labels moved to another class
    lr: float = param(
        0.5, Interval(float, 0.0, 100.0, closed="right")
    )  # initial step size of all but the last layer
    final_lr_scale: float = param(1.0, Interval(float, 0.0, 1000.0, closed="right"))  # final layer: lr * this
    conv_lr_scale: float = param(
        1.0, Interval(float, 0.0, 1000.0, closed="right")
    )  # body weights: lr * this; BN keeps lr
    lr_decay_iters: int = param(
        512, Interval(int, 1, 10**9)
    )  # lr = lr0 / sqrt(1 + iteration / lr_decay_iters)
    epochs: int = param(100, Interval(int, 1, 100_000))  # passes over the training set (the paper: 4000+)
    batch_size: int = param(128, Interval(int, 1, 100_000))  # SGD mini-batch size
    augment: bool = param(False, Boolean())  # random crop (padding 4) and horizontal flip (images only)
    train_size: int = param(0, Interval(int, 0, 10**7))  # use the first train_size training examples; 0 = all
    eval_every: int = param(1, Interval(int, 1, 100_000))  # epochs between test evaluations
    checkpoint_every: int = param(0, Interval(int, 0, 100_000))  # epochs between checkpoints (0 = none)
    seed: int = param(0, _SEED)  # label noise, init, shuffling and augmentation

    def check(self) -> None:
        if self.dataset == "mnist1d" and self.arch == "cnn":
            self.fail("arch", "'mlp' for dataset 'mnist1d'")
        if self.dataset == "mnist1d" and self.augment:
            self.fail("augment", "False for dataset 'mnist1d'")


def estimate_network(c: NetworkConfig) -> Cost:
    """Peak bytes: the float32 data set, parameters (x3: weights, gradients, checkpoint copy) and a
    mini-batch's activations; time: 6 x forward flops x samples x epochs at one core's flop rate."""
    n, features = _TRAIN_SIZE[c.dataset]
    n = min(n, c.train_size) if c.train_size else n
    w = c.width
    if c.arch == "cnn":
        pixels = features // 3 if c.dataset == "cifar10" else features
        params = 9 * (3 * w + 2 * w * w + 8 * w * w + 32 * w * w) + 80 * w
        activations = 3 * w * pixels * (1 + 0.5 + 0.25 + 0.125)
        forward = 2 * 9 * (3 * w * pixels + (2 * w * w + 8 * w * w) * pixels / 4 + 32 * w * w * pixels / 64)
    else:
        params = features * w + w * w + 10 * w
        activations = 4 * w
        forward = 2 * params
    bytes_ = 4.0 * (1.25 * n * features + 3 * params + 3 * c.batch_size * activations) + 200e6
    seconds = 6 * forward * n * c.epochs / _CORE_FLOPS + 0.002 * c.epochs * max(1, n // c.batch_size)
    return Cost(bytes=bytes_, seconds=seconds, drivers=("dataset", "arch", "width", "epochs", "batch_size"))


@dataclass(frozen=True, kw_only=True)
class WidthConfig(Validated):
    """Test error against width: min-norm random features (peak at width = n) and, optionally, the
    quick classifier trained at each width with label noise."""

    n: int = param(100, Interval(int, 1, 10_000))  # training samples of the random-features regression
    d: int = param(20, Interval(int, 1, 1000))  # input dimension of the random-features regression
    noise_std: float = param(0.3, Interval(float, 0.0, 100.0))  # label noise std of the regression
    widths: tuple[int, ...] = param(
        (5, 10, 20, 40, 60, 80, 90, 95, 100, 105, 110, 120, 150, 200, 300, 500, 1000),
        Tuple(Interval(int, 1, 20_000), max_len=200),
    )  # random features
    rf_seeds: int = param(5, Interval(int, 1, 1000))  # independent data/feature draws averaged
    network: bool = param(False, Boolean())  # also train the quick classifier at each network width
    network_widths: tuple[int, ...] = param(
        (4, 8, 16, 32, 64, 128, 256, 512), Tuple(Interval(int, 1, 4096), max_len=50)
    )  # MLP hidden widths
    network_epochs: int = param(100, Interval(int, 1, 100_000))  # epochs per network width
    label_noise: float = param(0.2, Interval(float, 0.0, 0.9))  # label noise of the network runs
    seed: int = param(0, _SEED)  # data, features and init


def estimate_width(c: WidthConfig) -> Cost:
    """Peak bytes: the widest feature matrices (train and 1000 test rows) and lstsq's workspace;
    time: lstsq and the test features per width and seed, plus the optional MLP runs."""
    p = max(c.widths)
    flops = c.rf_seeds * sum(4 * c.n * w * min(c.n, w) + 2 * (1000 + c.n) * c.d * w for w in c.widths)
    seconds = flops / 2e9
    if c.network:
        seconds += sum(
            estimate_network(NetworkConfig(width=w, epochs=c.network_epochs)).seconds
            for w in c.network_widths
        )
    return Cost(
        bytes=8.0 * ((1000 + 4 * c.n) * p + p * c.d) + 50e6,
        seconds=seconds,
        drivers=("widths", "n", "rf_seeds", "network_widths"),
    )
