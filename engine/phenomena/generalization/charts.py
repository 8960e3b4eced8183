"""Charts of the generalization experiments: pure functions DataFrame -> alt.Chart.

Lines are means over seeds, bands the seeds' min..max; log axes where the quantities span decades.
The training error of an interpolator is 0 up to rounding (about 1e-30): on a log axis it is drawn
at :data:`TRAIN_FLOOR` and its tooltip shows the measured value.
"""

from __future__ import annotations

from collections import OrderedDict
from functools import wraps

import pandas as pd

from engine.core.lazy import LazyModule

alt = LazyModule("altair")  # imported when a chart is first built

TRAIN_FLOOR = 1e-3  # where a zero training error is drawn on a log axis
_BUILT: OrderedDict = OrderedDict()  # (chart, args, frame content) -> alt.Chart, most recent last
_BUILT_MAX = 64


def _memoized(build):
    """Keep the last charts built per frame content: a rerun (a second visitor, another section's slider)
    gets the same Altair object instead of rebuilding and re-validating it (~0.1 s a chart). Charts are
    pure functions of the frame, and nothing downstream mutates them."""

    @wraps(build)
    def wrapper(frame: pd.DataFrame, *args, **kwargs):
        key = (
            build.__name__,
            args,
            tuple(sorted(kwargs.items())),
            frame.shape,
            tuple(frame.columns),
            int(pd.util.hash_pandas_object(frame, index=True).sum()),
        )
        if key in _BUILT:
            _BUILT.move_to_end(key)
            return _BUILT[key]
        chart = _BUILT[key] = build(frame, *args, **kwargs)
        while len(_BUILT) > _BUILT_MAX:
            _BUILT.popitem(last=False)
        return chart

    return wrapper


LINEAR_QUANTITIES = {  # column -> legend label, in legend order
    "train_error": "training error of ĥ (0, drawn at 1e-3)",
    "test_risk": "R(ĥ): test risk of the interpolator",
    "surrogate_train": "R̂_S(h̃): surrogate's empirical risk",
    "surrogate_risk": "R(h̃): surrogate's true risk",
    "surrogate_uc": "UC bound over the surrogate class H̃",
    "coupling_bound": "95 % bound on |R(ĥ) − R(h̃)| (from X only)",
    "surrogate_bound": "surrogate bound = R̂_S(h̃) + UC(H̃) + coupling bound",
    "ball_sup": "exact sup |R − R̂_S| over the smallest ball ∋ ĥ",
}
COUPLING_QUANTITIES = {
    "risk_gap": "realized |R(ĥ) − R(h̃)| (uses R(ĥ))",
    "coupling_bound": "95 % bound on it (from X, Σ, θ*, σ only)",
}
UNIFORM_QUANTITIES = {
    "ball_sup": "ball ∋ ĥ: exact sup |R − R̂_S|",
    "ball_uc": "ball ∋ ĥ: UC bound (constant set to 1)",
    "surrogate_sup": "surrogate class: exact sup",
    "surrogate_uc": "surrogate class: UC bound (constant set to 1)",
    "surrogate_sup_bound": "surrogate bound with the exact sup in place of UC",
}
NK_QUANTITIES = {
    "train_error": "training error of ĥ",
    "test_error": "test error of ĥ (exact, realized)",
    "mirror_error": "error of ĥ on the mirrored set S′",
    "nk_lower_bound": "two-sided UC over outputs ≥ |R(ĥ) − R̂_S′(ĥ)|",
    "surrogate_uc": "Hoeffding term for h̃ (δ/2)",
    "coupling_bound": "χ² bound on |R(ĥ) − R(h̃)| (δ/2, from m and D only)",
    "surrogate_bound": "surrogate bound = R̂_S(h̃) + Hoeffding + coupling bound (95 %)",
}
RF_QUANTITIES = {
    k: LINEAR_QUANTITIES[k]
    for k in (
        "train_error",
        "test_risk",
        "surrogate_risk",
        "surrogate_uc",
        "coupling_bound",
        "surrogate_bound",
    )
}
RF_QUANTITIES["test_risk"] = "R(ĥ): test risk of the fit"
RF_QUANTITIES["ball_bound"] = "UC bound over the smallest ball ∋ ĥ"
RIDGE_QUANTITIES = {
    **{k: v for k, v in RF_QUANTITIES.items() if k != "ball_bound"},
    "train_error": "training error of ĥ (floored at 1e-3)",
    "ball_sup": LINEAR_QUANTITIES["ball_sup"],
}


#: The series a talk slide keeps (about five legend entries read from the back of a room).
TALK_KEYS = (
    "test_risk",
    "test_error",
    "mirror_error",
    "nk_lower_bound",
    "surrogate_risk",
    "coupling_bound",
    "surrogate_bound",
    "ball_sup",
    "ball_bound",
)


def _for_talk(chart: alt.Chart, quantities: dict[str, str]) -> alt.Chart:
    """Mark the (at most five) series a slide draws: the risk, the bounds and the ball's sup."""
    keep = [label for key, label in quantities.items() if key in TALK_KEYS][:5]
    return chart.properties(usermeta={"talk_keep": {"field": "quantity", "values": keep}})


def _long(
    frame: pd.DataFrame,
    x: str,
    quantities: dict[str, str],
    group: list[str] | None = None,
    floor: bool = True,
) -> pd.DataFrame:
    """Mean, min and max over seeds of each quantity, one row per (x, group, quantity).

    Columns ``*_shown`` are what is drawn: with ``floor`` the training error is clipped at TRAIN_FLOOR.
    """
    keys = [x, *(group or [])]
    melted = frame.melt(id_vars=keys, value_vars=list(quantities), var_name="column", value_name="value")
    stats = melted.groupby([*keys, "column"], as_index=False)["value"].agg(["mean", "min", "max"])
    stats["quantity"] = stats["column"].map(quantities)
    stats["order"] = stats["column"].map({c: i for i, c in enumerate(quantities)})
    floored = floor & (stats["column"] == "train_error")
    for col in ("mean", "min", "max"):
        stats[f"{col}_shown"] = stats[col].where(~floored, stats[col].clip(lower=TRAIN_FLOOR))
    return stats


def _lines(
    stats: pd.DataFrame,
    x: str,
    x_title: str,
    y_title: str,
    log_y: bool,
    quantities: dict[str, str],
    dash: str | None = None,
) -> alt.Chart:
    """Mean lines with points and a min..max band per quantity."""
    y_scale = alt.Scale(type="log") if log_y else alt.Scale(domain=[0, 1])
    color = alt.Color(
        "quantity:N",
        title=None,
        sort=list(quantities.values()),
        legend=alt.Legend(orient="bottom", columns=2, labelLimit=420, symbolOpacity=1),
    )
    x_scale = alt.Scale(type="log", nice=False)  # the axis spans the data, not the next decades
    base = alt.Chart(stats).encode(x=alt.X(f"{x}:Q", title=x_title, scale=x_scale), color=color)
    tooltip = [
        alt.Tooltip("quantity:N"),
        alt.Tooltip(f"{x}:Q"),
        alt.Tooltip("mean:Q", format=".4g"),
        alt.Tooltip("min:Q", format=".4g"),
        alt.Tooltip("max:Q", format=".4g"),
    ]
    if dash:
        tooltip.insert(1, alt.Tooltip(f"{dash}:N"))
    line_enc = (
        {"strokeDash": alt.StrokeDash(f"{dash}:N", title=None, legend=alt.Legend(symbolType="stroke"))}
        if dash
        else {}
    )
    band = base.mark_area(opacity=0.15).encode(
        y=alt.Y("min_shown:Q", scale=y_scale), y2="max_shown:Q", **({"detail": f"{dash}:N"} if dash else {})
    )
    line = base.mark_line(point=True).encode(
        y=alt.Y("mean_shown:Q", title=y_title, scale=y_scale), tooltip=tooltip, **line_enc
    )
    return band + line


def _noise_rule(level: float, label: str = "noise level σ²") -> alt.Chart:
    data = pd.DataFrame({"level": [level], "label": [label]})
    rule = (
        alt.Chart(data)
        .mark_rule(strokeDash=[6, 3], color="black")
        .encode(y="level:Q", tooltip=[alt.Tooltip("label:N"), alt.Tooltip("level:Q", format=".4g")])
    )
    text = (
        alt.Chart(data)
        .mark_text(align="left", dx=4, dy=-6, color="black")
        .encode(y="level:Q", text="label:N", x=alt.value(4))
    )
    return rule + text


@_memoized
def linear_chart(frame: pd.DataFrame, surrogate: str = "denoising") -> alt.Chart:
    """The decomposition against n for one surrogate ("denoising" or "head"), log-log, noise level rule."""
    part = frame[frame["surrogate"] == surrogate]
    stats = _long(part, "n", LINEAR_QUANTITIES)
    title = {
        "denoising": "Denoising surrogate h̃ = X⁺Xθ* (forgets the noise)",
        "head": "Head-coordinates surrogate h̃ = spike coordinates of ĥ",
    }[surrogate]
    chart = _lines(stats, "n", "training-set size n", "squared-loss risk / bound", True, LINEAR_QUANTITIES)
    chart = (chart + _noise_rule(float(part["noise_level"].iloc[0]))).properties(title=title, height=420)
    return _for_talk(chart, LINEAR_QUANTITIES)


def linear_denoising_chart(frame: pd.DataFrame) -> alt.Chart:
    """:func:`linear_chart` for the paper's denoising surrogate."""
    return linear_chart(frame, "denoising")


def linear_head_chart(frame: pd.DataFrame) -> alt.Chart:
    """:func:`linear_chart` for the head-coordinates surrogate."""
    return linear_chart(frame, "head")


@_memoized
def coupling_chart(frame: pd.DataFrame) -> alt.Chart:
    """The coupling term, realized (uses R(ĥ)) vs its 95 % bound (from X only), both surrogates, log-log."""
    stats = _long(frame, "n", COUPLING_QUANTITIES, group=["surrogate"], floor=False)
    return _lines(
        stats, "n", "training-set size n", "|R(ĥ) − R(h̃)|", True, COUPLING_QUANTITIES, dash="surrogate"
    ).properties(
        title="Coupling term: realized vs its 95 % bound (computed without R(ĥ)); solid = denoising, dashed = head",
        height=320,
    )


@_memoized
def uniform_chart(frame: pd.DataFrame) -> alt.Chart:
    """Exact sups of |R − R̂_S| beside the UC bounds (denoising surrogate's class), log-log, noise rule."""
    part = frame[frame["surrogate"] == "denoising"]
    stats = _long(part, "n", UNIFORM_QUANTITIES, floor=False)
    chart = _lines(stats, "n", "training-set size n", "sup |R − R̂_S| / bound", True, UNIFORM_QUANTITIES)
    return (chart + _noise_rule(float(part["noise_level"].iloc[0]))).properties(
        title="Exact uniform deviation (trust-region solution) beside the UC bound", height=360
    )


@_memoized
def norms_chart(frame: pd.DataFrame) -> alt.Chart:
    """|θ̂|₂ (grows with n: the noise-fitting part) against both surrogates' norms (stay below |θ*| = 1)."""
    labels = {"norm": "|θ̂|₂ (interpolator)", "surrogate_norm": "|θ̃|₂ (surrogate)"}
    stats = _long(frame, "n", labels, group=["surrogate"], floor=False)
    return _lines(
        stats, "n", "training-set size n", "Euclidean norm", True, labels, dash="surrogate"
    ).properties(title="The ball radius grows; the surrogate's does not", height=320)


@_memoized
def nk_chart(frame: pd.DataFrame) -> alt.Chart:
    """Nagarajan-Kolter: errors and bounds against m (log x, linear y in [0, 1])."""
    stats = _long(frame, "m", NK_QUANTITIES, floor=False)
    chart = _lines(stats, "m", "training-set size m", "0-1 error / bound", False, NK_QUANTITIES)
    chart = chart.properties(
        # "D >> m" in words: the file renderer has no "≫" in the lab's font and sets the whole
        # title line in a serif fallback
        title="One gradient step, noise block D much larger than m: two-sided UC is stuck at 1, "
        "the derandomized bound falls",
        height=420,
    )
    return _for_talk(chart, NK_QUANTITIES)


@_memoized
def ridge_chart(frame: pd.DataFrame) -> alt.Chart:
    """Ridge regression: the decomposition (denoising surrogate) against the ridge parameter."""
    part = frame[frame["surrogate"] == "denoising"]
    stats = _long(part, "ridge", RIDGE_QUANTITIES)
    chart = _lines(
        stats,
        "ridge",
        "ridge parameter λ (fit: (XXᵀ + nλI)⁻¹)",
        "squared-loss risk / bound",
        True,
        RIDGE_QUANTITIES,
    )
    n = int(part["n"].iloc[0])
    chart = (chart + _noise_rule(float(part["noise_level"].iloc[0]))).properties(
        title=f"Ridge across λ at n = {n}: the ball bound falls only where the risk rises", height=420
    )
    return _for_talk(chart, RIDGE_QUANTITIES)


@_memoized
def random_features_chart(frame: pd.DataFrame) -> alt.Chart:
    """Random-features regression: interpolating (solid) vs ridge (dashed) against n."""
    stats = _long(frame, "n", RF_QUANTITIES, group=["fit"])
    chart = _lines(
        stats, "n", "training-set size n", "squared-loss risk / bound", True, RF_QUANTITIES, dash="fit"
    )
    chart = (chart + _noise_rule(float(frame["noise_level"].iloc[0]))).properties(
        title=f"ReLU random features (N = {int(frame['n_features'].iloc[0])}): interpolating vs ridge",
        height=420,
    )
    return _for_talk(chart, RF_QUANTITIES)
