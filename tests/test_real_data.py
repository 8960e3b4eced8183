"""The real-data presets (Fashion-MNIST, the real MNIST sample): the same code paths as the paper
presets on slices of the real files, their verdicts, and the claims they add."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

import engine
from engine.core import data
from engine.core.experiment import RunContext
from engine.core.validation import ConfigError
from engine.present import claims

needs_fashion = pytest.mark.skipif(
    data.fashion_mnist_folder() is None, reason="dataset-fashion-mnist is not installed"
)


def _fashion_slice(monkeypatch, module, n_train=200, n_test=40):
    """Serve the first images of the real Fashion-MNIST files to ``module.images``."""
    real = data.images

    def sliced(name, *, train, limit=None):
        return real(name, train=train, limit=n_train if train else n_test)

    monkeypatch.setattr(module, "images", sliced)


def test_every_image_paper_has_a_real_data_preset_on_a_real_data_set():
    for name, expected in (
        ("linear_ae.dynamics", "MNIST"),
        ("linear_ae.snapshot", "MNIST"),
        ("linear_ae.decoders", "MNIST"),
        ("smoothing.certify", "Fashion-MNIST"),
        ("smoothing.grid", "Fashion-MNIST"),
        ("double_descent.network", "Fashion-MNIST"),
        ("ntk.classify", "Fashion-MNIST"),
    ):
        exp = engine.get_experiment(name)
        assert claims.scale_of("real") == "real" and claims.dataset_of(exp, "real") == expected, name
        assert exp.setups["real"], name  # its size stated beside its numbers
        paper, real = exp.presets["paper"], exp.presets["real"]
        assert type(paper) is type(real) and real.dataset != paper.dataset  # the same code path, other data


def test_linear_ae_on_the_real_mnist_sample_uses_784_pixels():
    from engine.phenomena.linear_ae import experiments as lae

    X = lae.image_data("mnist_5k")
    assert X.shape == (5000, 784) and X.min() >= 0.0 and X.max() <= 1.0
    cfg = replace(lae.EXPERIMENTS[0].presets["real"], steps=30, record_every=10)
    frame = lae.run_dynamics(cfg, RunContext())
    assert set(frame["dataset"]) == {"mnist_5k"} and frame["collapsed"].iloc[0] >= 0
    assert frame["step"].max() == 30 and frame["axis_alignment"].notna().all()


@needs_fashion
def test_double_descent_cnn_runs_on_a_fashion_mnist_slice():
    from engine.phenomena.double_descent import experiments as dd

    cfg = replace(dd.NETWORK_REAL, width=2, train_size=64, epochs=2, batch_size=32)
    frame = dd.compute_network(cfg, RunContext())
    assert list(frame["epoch"]) == [1, 2] and frame["test_error"].between(0, 1).all()
    assert set(frame["dataset"]) == {"fashion_mnist"}


@needs_fashion
def test_smoothing_certifies_a_small_cnn_on_a_fashion_mnist_slice(monkeypatch):
    from engine.phenomena.smoothing import certify, models

    _fashion_slice(monkeypatch, models)
    models.forget_trained_models()
    cfg = replace(
        engine.get_experiment("smoothing.certify").presets["real"],
        sigmas=(0.25, 1.0),
        epochs=1,
        n=200,
        n0=20,
        skip=4,
    )
    frame = certify.compute_certify(cfg, RunContext())
    models.forget_trained_models()
    assert set(frame["sigma"]) == {0.25, 1.0} and len(frame) == 2 * 10
    assert (frame["radius"] <= frame["cap"] + 1e-12).all()
    with pytest.raises(ConfigError, match="'cnn' for fashion_mnist"):
        replace(cfg, model="mlp")


@needs_fashion
def test_cntk_classifies_fashion_mnist_pooled_to_14x14():
    from engine.phenomena.ntk.experiments import images

    cfg = replace(engine.get_experiment("ntk.classify").presets["real"], n_train=20, n_test=10, depths=(3,))
    Xtr, ytr, Xte, _ = images.load_images(cfg)
    assert Xtr.shape == (20, 1, 14, 14) and Xte.shape == (10, 1, 14, 14)
    assert abs(Xtr.mean()) < 1e-9 and Xtr.std() == pytest.approx(1.0)  # per channel, training statistics
    frame = images.compute_classify(cfg, RunContext())
    assert set(frame["kernel"]) == {"CNTK-V", "CNTK-GAP"} and frame["accuracy"].between(0, 1).all()


def _table(gap: dict[int, float], vanilla: dict[int, float]) -> pd.DataFrame:
    rows = [{"kernel": "CNTK-GAP", "depth": d, "accuracy": a / 100} for d, a in gap.items()]
    rows += [{"kernel": "CNTK-V", "depth": d, "accuracy": a / 100} for d, a in vanilla.items()]
    return pd.DataFrame(rows)


def _claim(cid: str):
    return next(c for c in claims.all_claims() if c.id == cid)


def test_gap_above_vanilla_holds_on_table_1_and_fails_where_vanilla_wins():
    c = _claim("ntk.gap_above_vanilla")
    from engine.phenomena.ntk.paper import PAPER_CIFAR

    table = _table(PAPER_CIFAR["CNTK-GAP"], PAPER_CIFAR["CNTK-V"])
    assert (
        c.measure(table) == pytest.approx(6.0)
        and claims._judge(c, [c.measure(table)], "CIFAR-10").status == claims.REPRODUCED
    )
    worse = _table({3: 70.0, 6: 64.0}, {3: 65.0, 6: 66.0})  # GAP below vanilla at depth 6
    assert claims._judge(c, [c.measure(worse)], "Fashion-MNIST").status == claims.NOT_SHOWN
    assert (
        claims._judge(c, [c.measure(_table({3: 80.0}, {3: 79.0}))], "Fashion-MNIST").words
        == "shown on Fashion-MNIST"
    )
    assert np.isnan(c.measure(_table({}, {3: 60.0})))  # no GAP run (the digits quick preset): no number


def test_gap_gains_with_depth_holds_when_deeper_is_better_and_fails_otherwise():
    c = _claim("ntk.gap_gains_with_depth")
    deeper = _table({3: 70.0, 4: 72.0, 6: 73.0}, {})
    assert c.measure(deeper) == pytest.approx(3.0) and c.holds(c.measure(deeper))
    assert claims._judge(c, [3.0], "CIFAR-10").status == claims.DIFFERS  # 3.3 points short of Table 1
    shallower = _table({3: 70.0, 6: 69.0}, {})
    assert not c.holds(c.measure(shallower))
    assert claims._judge(c, [c.measure(shallower)], "Fashion-MNIST").status == claims.NOT_SHOWN


def test_lae_mnist_claims_get_a_verdict_on_real_mnist_and_none_on_synthetic_data():
    uniform = _claim("lae.mnist_uniform")
    assert claims._judge(uniform, [0.7], "MNIST").status == claims.REPRODUCED
    assert claims._judge(uniform, [0.3], "MNIST").status == claims.DIFFERS
    assert claims._judge(uniform, [0.7], "synthetic data").status == claims.OTHER_DATA
    rotation = _claim("lae.mnist_rotation")  # the review's 'reproduced at quick scale from synthetic data'
    assert claims._judge(rotation, [0.0], "synthetic data").status == claims.OTHER_DATA
    assert claims._judge(rotation, [0.01], "MNIST").status == claims.REPRODUCED
    assert claims._judge(rotation, [0.2], "MNIST").status == claims.DIFFERS
