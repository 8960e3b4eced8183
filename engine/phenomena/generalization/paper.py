"""Negrea, Dziugaite, Roy (ICML 2020), "In Defense of Uniform Convergence": the paper's setups and statements.

The paper has no code and no tables; its results are qualitative (which bound vanishes, which does not).
What is recorded here is what our experiments follow and where our quick scale departs from it.
"""

from __future__ import annotations

PAPER = "Negrea, Dziugaite, Roy: In Defense of Uniform Convergence (ICML 2020)"

#: The decomposition (their Theorem on derandomized UC), as LaTeX for the page.
DECOMPOSITION_LATEX = (
    r"R(\hat h)\;\le\;\hat R_S(\tilde h)\;+\;\sup_{h\in\tilde{\mathcal H}_n}|R(h)-\hat R_S(h)|"
    r"\;+\;|R(\hat h)-R(\tilde h)|"
)

NK_NOISE_VARIANCE = 32.0  # x2 ~ N(0, (32 / D) I_D), as in Nagarajan & Kolter (2019)

#: What the paper's statements are about (for Claim.paper_setup).
SETUPS = {
    "linear": "min-norm interpolation, Gaussian x, spiked covariance (Bartlett et al. 2020 benign regime), "
    "asymptotic statement (no numbers)",
    "nk": "Nagarajan & Kolter's hypersphere-free example: one gradient step, noise block D >> m (N&K 2019)",
}

#: Confidence level of every high-probability term we compute (1 - delta).
DEFAULT_DELTA = 0.05
