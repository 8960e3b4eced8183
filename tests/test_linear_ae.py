"""Science checks for regularized linear autoencoders (Bao et al., NeurIPS 2020)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import engine
from engine.phenomena.linear_ae import experiments as lae


def gaussian_data(n: int, eigenvalues, seed: int) -> np.ndarray:
    """n rows of N(0, U diag(eigenvalues) U^T) with a random rotation U."""
    rng = np.random.default_rng(seed)
    d = len(eigenvalues)
    basis, _ = np.linalg.qr(rng.standard_normal((d, d)))
    return rng.standard_normal((n, d)) * np.sqrt(eigenvalues) @ basis.T


@pytest.fixture(scope="module")
def data():
    return gaussian_data(4000, np.linspace(8.0, 1.0, 8), seed=1)


def torch_loss(X, W1, W2, lambdas):
    """The paper's loss written directly on the data, for autograd: |X - X W1^T W2^T|^2/n + penalty."""
    Xc = X - X.mean(0)
    recon = Xc @ W1.T @ W2.T
    penalty = (lambdas * ((W1**2).sum(1) + (W2**2).sum(0))).sum()
    return ((Xc - recon) ** 2).sum() / X.shape[0] + penalty


def test_analytic_gradient_matches_autograd(data):
    k = 3
    rng = np.random.default_rng(0)
    W1, W2 = rng.normal(size=(k, 8)), rng.normal(size=(8, k))
    lambdas = np.array([0.1, 0.5, 0.9])
    X = torch.tensor(data)
    t1 = torch.tensor(W1, requires_grad=True)
    t2 = torch.tensor(W2, requires_grad=True)
    torch_loss(X, t1, t2, torch.tensor(lambdas)).backward()
    g1, g2 = lae.loss_gradients(lae.covariance(data), W1, W2, lambdas)
    np.testing.assert_allclose(g1, t1.grad.numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(g2, t2.grad.numpy(), rtol=1e-10, atol=1e-10)
    loss = lae._losses(lae.covariance(data), W1[None], W2.T[None], lambdas[None])[0]
    assert loss == pytest.approx(torch_loss(X, t1, t2, torch.tensor(lambdas)).item(), rel=1e-12)


def test_rotation_augmented_gradient_matches_the_paper_formula(data):
    """grad W1 -= G W1, grad W2 -= W2 G^T with G = (triu(A,1) - triu(A,1)^T)/2, A = W1 C W1^T."""
    k = 3
    rng = np.random.default_rng(2)
    W1, W2 = rng.normal(size=(k, 8)), rng.normal(size=(8, k))
    C = lae.covariance(data)
    plain1, plain2 = lae.loss_gradients(C, W1, W2, np.zeros(k))
    rag1, rag2 = lae.loss_gradients(C, W1, W2, np.zeros(k), rotation=True)
    A = W1 @ C @ W1.T
    G = 0.5 * (np.triu(A, 1) - np.triu(A, 1).T)
    np.testing.assert_allclose(rag1, plain1 - G @ W1, atol=1e-10)
    np.testing.assert_allclose(rag2, plain2 - W2 @ G.T, atol=1e-10)


def test_global_minimum_is_stationary_and_ordered(data):
    C = lae.covariance(data)
    lambdas = np.array([0.2, 0.6, 1.0])
    encoder, decoder = lae.global_minimum(C, lambdas)
    g1, g2 = lae.loss_gradients(C, encoder, decoder, lambdas)
    assert max(np.abs(g1).max(), np.abs(g2).max()) < 1e-10
    values, vectors = np.linalg.eigh(C)
    np.testing.assert_allclose(np.linalg.norm(decoder, axis=0) ** 2, 1 - lambdas / values[::-1][:3], rtol=1e-12)
    assert lae.axis_alignment(decoder, vectors[:, ::-1][:, :3]) < 1e-12


def test_metrics_closed_forms():
    eye = np.eye(4)[:, :2]
    assert lae.axis_alignment(eye, eye) == pytest.approx(0.0, abs=1e-15)
    rotated = eye @ np.array([[1, 1], [-1, 1]]) / np.sqrt(2)  # 45 degrees inside the same plane
    assert lae.axis_alignment(rotated, eye) == pytest.approx(0.5, abs=1e-12)
    assert lae.subspace_distance(rotated, eye) == pytest.approx(0.0, abs=1e-12)
    assert lae.subspace_distance(np.eye(4)[:, 2:], eye) == pytest.approx(1.0, abs=1e-12)


def test_non_uniform_with_rag_converges_to_the_global_minimum(data):
    lambdas = np.array([0.3, 0.9, 1.5])
    result = lae.fit(data, 3, regularization="non_uniform", lam=lambdas, rotation=True,
                     lr=1e-2, steps=6000, record_every=500)
    _, expected = lae.global_minimum(lae.covariance(data), lambdas)
    _, vectors = lae.principal_directions(lae.covariance(data), 3)
    cos = lae.abs_cosines(result.decoder, vectors)
    assert np.all(np.diag(cos) > 0.99)  # column i is eigenvector i, in order
    np.testing.assert_allclose(np.linalg.norm(result.decoder, axis=0), np.linalg.norm(expected, axis=0), rtol=1e-3)
    np.testing.assert_allclose(np.linalg.norm(result.encoder, axis=1), np.linalg.norm(expected, axis=0), rtol=1e-3)


def test_non_uniform_alone_also_converges_given_time(data):
    result = lae.fit(data, 2, regularization="non_uniform", lam=np.array([0.5, 2.0]), lr=1e-2,
                     steps=20000, record_every=1000)
    _, vectors = lae.principal_directions(lae.covariance(data), 2)
    assert np.all(np.diag(lae.abs_cosines(result.decoder, vectors)) > 0.99)


def test_uniform_finds_the_subspace_but_not_the_axes(data):
    result = lae.fit(data, 3, regularization="uniform", lam=0.5, lr=1e-2, steps=6000, record_every=500)
    final = result.history.iloc[-1]
    assert final["subspace_distance"] < 1e-4
    assert final["axis_alignment"] > 0.05  # the random initial rotation survives


def test_rag_aligns_where_plain_non_uniform_has_not(data):
    C = lae.covariance(data)
    variants = lae.make_variants(4, 1.0, 3e-3, labels=("non_uniform", "non_uniform+rotation"))
    _, _, history = lae.train_variants(C, 4, variants, steps=3000, record_every=3000)
    final = history[history["step"] == 3000].set_index("variant")["axis_alignment"]
    assert final["non_uniform+rotation"] < 1e-3
    assert final["non_uniform"] > 0.05


def test_quick_preset_shows_the_phenomenon():
    frame = engine.run("linear_ae.dynamics")
    final = frame[frame["step"] == frame["step"].max()].set_index("variant")
    assert final.loc["uniform", "axis_alignment"] > 0.1  # margin: 10x the RAG threshold below
    assert final.loc["uniform", "subspace_distance"] < 1e-4
    assert final.loc["non_uniform+rotation", "axis_alignment"] < 0.01
    assert final.loc["non_uniform", "axis_alignment"] < final.loc["uniform", "axis_alignment"]
    for claim in engine.get_experiment("linear_ae.dynamics").claims:
        if claim.preset == "quick":
            assert claim.holds(claim.measure(frame)), claim.id


def test_adam_matches_torch_adam_steps(data):
    """Our batched Adam equals torch.optim.Adam on the same loss for a few steps (float64)."""
    k, lr, steps = 2, 1e-2, 5
    lambdas = np.array([0.5, 0.5])
    variant = lae.Variant("x", lambdas, False, lr)
    W1, W2, _ = lae.train_variants(lae.covariance(data), k, [variant], optimizer="adam", steps=steps,
                                   record_every=steps, seed=3)
    rng = np.random.default_rng(3)
    t1 = torch.tensor(rng.normal(0.0, 0.01, (k, 8)), requires_grad=True)
    t2 = torch.tensor(rng.normal(0.0, 0.01, (8, k)), requires_grad=True)
    opt = torch.optim.Adam([t1, t2], lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        torch_loss(torch.tensor(data), t1, t2, torch.tensor(lambdas)).backward()
        opt.step()
    np.testing.assert_allclose(W1[0], t1.detach().numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(W2[0], t2.detach().numpy(), rtol=1e-9, atol=1e-12)


def test_sgd_matches_torch_nesterov(data):
    k, lr, steps = 2, 1e-2, 5
    lambdas = np.array([0.2, 0.7])
    variant = lae.Variant("x", lambdas, False, lr)
    W1, W2, _ = lae.train_variants(lae.covariance(data), k, [variant], steps=steps, record_every=steps, seed=4)
    rng = np.random.default_rng(4)
    t1 = torch.tensor(rng.normal(0.0, 0.01, (k, 8)), requires_grad=True)
    t2 = torch.tensor(rng.normal(0.0, 0.01, (8, k)), requires_grad=True)
    opt = torch.optim.SGD([t1, t2], lr=lr, momentum=0.9, nesterov=True)
    for _ in range(steps):
        opt.zero_grad()
        torch_loss(torch.tensor(data), t1, t2, torch.tensor(lambdas)).backward()
        opt.step()
    np.testing.assert_allclose(W1[0], t1.detach().numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(W2[0], t2.detach().numpy(), rtol=1e-9, atol=1e-12)


def test_divergence_is_flagged_not_raised():
    frame = engine.run("linear_ae.dynamics", {"lr": 5.0, "steps": 200, "record_every": 10})
    assert frame["diverged"].any()
    assert frame.loc[~frame["diverged"], ["loss", "axis_alignment"]].notna().all().all()


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("k", 0, "The 'k' parameter of DynamicsConfig must be an int in [1, 784]. Got 0 instead."),
        ("optimizer", "rmsprop", "The 'optimizer' parameter of DynamicsConfig must be one of 'sgd', 'adam'."),
        ("lr", -1.0, "The 'lr' parameter of DynamicsConfig must be a float in (0, 10]. Got -1.0 instead."),
        ("k", 30, "The 'k' parameter of DynamicsConfig must be an int in [1, 20]. Got 30 instead."),
    ],
)
def test_bad_config_gets_one_clear_message(field, value, message):
    with pytest.raises(engine.ConfigError) as err:
        engine.run("linear_ae.dynamics", {field: value})
    assert str(err.value).startswith(message)


def test_lam_validation_in_the_science_api(data):
    with pytest.raises(ValueError, match="strictly increasing"):
        lae.fit(data, 2, regularization="non_uniform", lam=[0.5, 0.1])
    with pytest.raises(ValueError, match="'regularization'"):
        lae.fit(data, 2, regularization="l1")


def test_decoder_images_on_digits():
    frame = engine.run("linear_ae.decoders", {"steps": 1500, "k": 4})
    assert set(frame["latent"]) == {1, 2, 3, 4}
    assert len(frame) == 4 * 64
    assert frame["axis_alignment"].iloc[0] < 0.01  # RAG + ladder aligned within 1500 steps


def test_charts_have_labelled_axes_and_tooltips():
    frame = engine.run("linear_ae.dynamics", {"steps": 500})
    exp = engine.get_experiment("linear_ae.dynamics")
    for which in exp.charts:
        spec = exp.chart(frame, which).to_dict()
        assert spec["encoding"]["x"]["title"].startswith("Iteration")
        assert "tooltip" in spec["encoding"]
    assert exp.chart(frame, "subspace").to_dict()["encoding"]["y"]["scale"]["type"] == "log"
