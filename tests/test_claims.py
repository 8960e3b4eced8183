"""The claims scoreboard: every registered claim listed, statuses decided at the claim's own scale,
paper scale read from the cache only (never computed), and the home page's table."""

from __future__ import annotations

import html
import math
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

import engine
from engine.core import cache
from engine.core.experiment import Claim, config_to_dict
from engine.core.fingerprint import experiment_fingerprint
from engine.present import claims

ROOT = Path(__file__).resolve().parent.parent
NAME = "linear_ae.snapshot"  # quick default: 2000 steps, ~0.3 s


def max_cos(frame: pd.DataFrame) -> float:
    return float(frame["abs_cos"].max())


def claim(holds, *, preset="quick", measure=max_cos, paper_value=None) -> Claim:
    return Claim(
        "test.claim",
        "a test claim",
        NAME,
        measure=measure,
        holds=holds,
        preset=preset,
        paper_value=paper_value,
        unit="|cos|",
    )


def test_scales_and_presets():
    assert [claims.scale_of(p) for p in ("quick", "quick-scaled", "paper", "paper-final-0.001")] == [
        "quick",
        "quick",
        "paper",
        "paper",
    ]
    exp = engine.get_experiment(NAME)
    assert claims.presets_for(claim(bool), exp) == {"quick": "quick", "paper": "paper"}
    assert claims.presets_for(claim(bool, preset="paper"), exp) == {"paper": "paper", "quick": "quick"}


def test_scoreboard_lists_every_registered_claim_and_computes_nothing(fresh_cache):
    registered = [c.id for exp in engine.experiments().values() for c in exp.claims]
    results = claims.scoreboard()
    assert sorted(r.claim.id for r in results) == sorted(registered)
    assert {r.status for r in results} == {claims.NOT_COMPUTED}
    assert cache.index_records() == []  # an empty cache stays empty
    table = claims.scoreboard_frame(results)
    assert len(table) == len(registered)
    assert set(table["page"]) <= {f"/{exp.phenomenon}" for exp in engine.experiments().values()}


def test_status_follows_holds_at_the_claims_own_scale(fresh_cache):
    source = claims.FrameSource(compute=False)
    assert claims.evaluate(claim(lambda v: True), source).status == claims.NOT_COMPUTED
    source = claims.FrameSource(compute=True)
    reproduced = claims.evaluate(claim(lambda v: v <= 1 + 1e-12), source)
    frame = engine.run(NAME)
    assert reproduced.status == claims.REPRODUCED
    assert reproduced.quick == pytest.approx(frame["abs_cos"].max(), abs=0)
    assert reproduced.cache_keys == (frame.attrs["cache_key"],)
    assert claims.evaluate(claim(lambda v: v > 2), source).status == claims.DIFFERS
    broken = claims.evaluate(claim(bool, measure=lambda f: f["no such column"].mean()), source)
    assert (
        broken.status == claims.FAILED and "lacks the rows or columns" in broken.note
    )  # words, no traceback
    paper = claims.evaluate(claim(lambda v: True, preset="paper", paper_value=1.0), source)
    assert paper.status == claims.NOT_COMPUTED and paper.paper is None
    assert paper.quick == reproduced.quick  # measured at quick scale all the same
    assert not engine.is_cached(NAME, preset="paper")  # paper scale is never computed


def test_paper_scale_is_read_from_the_cache(fresh_cache):
    exp = engine.get_experiment(NAME)
    paper_frame = pd.DataFrame({"variant": ["rotation"] * 2, "abs_cos": [0.25, 0.5]})
    config = config_to_dict(exp.presets["paper"])
    meta = {"device": "cuda", "seconds": 9.0, "source": experiment_fingerprint(NAME)}  # today's code
    cache.store(NAME, exp.version, config, cache.make_entry(paper_frame, meta))
    result = claims.evaluate(claim(lambda v: v < 0.6, preset="paper"), claims.FrameSource())
    assert result.paper == 0.5 and result.status == claims.REPRODUCED and result.quick is None
    loaded = engine.load_cached(NAME, preset="paper")
    assert loaded.attrs["device"] == "cuda" and loaded.attrs["cache_key"] == cache.entry_key(
        NAME, exp.version, config
    )


def test_a_failing_run_is_reported_not_raised(fresh_cache, monkeypatch):
    def boom(*args, **kwargs):
        raise FloatingPointError("diverged")

    monkeypatch.setattr(claims, "run", boom)
    result = claims.evaluate(claim(bool), claims.FrameSource(compute=True))
    assert result.status == claims.FAILED and "FloatingPointError: diverged" in result.note


def test_format_value():
    assert claims.format_value(None) == "—"
    assert claims.format_value(0.4321) == "0.432"
    assert claims.format_value(3.3e-16) == "3.30e-16"
    assert claims.format_value(math.inf) == "inf"


def test_home_page_shows_the_scoreboard_grouped_with_filters(fresh_cache):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    assert not at.exception, [e.value for e in at.exception]
    text = " ".join(m.value for m in at.markdown)
    registered = [c for exp in engine.experiments().values() for c in exp.claims]
    for c in registered:  # the full claim text, never truncated
        assert html.escape(c.text, quote=False).replace("|", "&#124;") in text, c.id
    assert f"{len(registered)} {claims.NOT_COMPUTED}" in text  # counted per scale
    assert "ours, quick scale" in text and "ours, paper scale" in text
    at.pills(key="home_claim_filter").set_value(["reproduced", "differs"]).run()
    assert not at.exception
    shown = " ".join(m.value for m in at.markdown)
    assert not any(html.escape(c.text, quote=False) in shown for c in registered)
    assert any("No claim about a phenomenon has the chosen status" in c.value for c in at.caption)


def status_claim(value: float, holds=lambda v: v > 0.5, preset="quick", kind="phenomenon") -> Claim:
    return Claim(
        "test.scale",
        "a claim judged per scale",
        NAME,
        measure=lambda f: value,
        holds=holds,
        preset=preset,
        kind=kind,
    )


def store_paper_frame() -> None:
    exp = engine.get_experiment(NAME)
    frame = pd.DataFrame({"variant": ["rotation"], "abs_cos": [0.5]})
    meta = {"seconds": 1.0, "source": experiment_fingerprint(NAME)}  # as if computed by today's code
    cache.store(NAME, exp.version, config_to_dict(exp.presets["paper"]), cache.make_entry(frame, meta))


def test_each_scale_is_judged_on_its_own_measurement(fresh_cache):
    engine.run(NAME)
    store_paper_frame()
    source = claims.FrameSource()
    # the quick value holds, the paper value does not: each scale says so
    by_frame = Claim(
        "test.scale", "t", NAME, measure=lambda f: float(f["abs_cos"].max()), holds=lambda v: v > 0.9
    )
    result = claims.evaluate(by_frame, source)
    assert result.statuses == {"quick": claims.REPRODUCED, "paper": claims.DIFFERS}
    assert result.status == claims.REPRODUCED  # the headline: the claim's own preset's scale
    paper_claim = Claim(
        "test.scale",
        "t",
        NAME,
        measure=lambda f: float(f["abs_cos"].max()),
        holds=lambda v: v > 0.9,
        preset="paper",
    )
    assert claims.evaluate(paper_claim, source).status == claims.DIFFERS
    row = claims.scoreboard_frame([result]).iloc[0]
    assert (row["status (quick)"], row["status (paper)"]) == (claims.REPRODUCED, claims.DIFFERS)
    exp = engine.get_experiment(NAME)
    assert row["setup (quick)"] == dict(exp.setups).get("quick", "")
    assert row["setup (paper)"] == dict(exp.setups).get("paper", "")


def test_nan_is_never_reproduced_and_a_raising_measure_could_not_measure(fresh_cache):
    engine.run(NAME)
    source = claims.FrameSource()
    nan = claims.evaluate(status_claim(math.nan, holds=lambda v: True), source)  # holds() would say yes
    assert nan.statuses["quick"] == claims.FAILED and "nan" in nan.note
    assert nan.quick is None
    raising = claims.evaluate(
        Claim("t", "t", NAME, measure=lambda f: f.iloc[10**6]["abs_cos"], holds=bool), source
    )
    assert raising.statuses["quick"] == claims.FAILED and "lacks the rows or columns" in raising.note
    assert raising.statuses["paper"] == claims.NOT_COMPUTED  # not cached: not a failure
    store_paper_frame()
    raising = claims.evaluate(
        Claim("t", "t", NAME, measure=lambda f: f.iloc[10**6]["abs_cos"], holds=bool, preset="paper"),
        claims.FrameSource(),
    )
    assert raising.status == claims.FAILED  # a measure that raises on a cached frame: could not measure


def test_sanity_checks_are_kept_apart(fresh_cache):
    engine.run(NAME)
    results = [
        claims.evaluate(status_claim(0.9, kind="sanity"), claims.FrameSource()),
        claims.evaluate(status_claim(0.9), claims.FrameSource()),
    ]
    table = claims.scoreboard_frame(results)
    assert list(table["kind"]) == ["sanity", "phenomenon"]
    assert claims.status_counts(results)["quick"][claims.REPRODUCED] == 2


def test_a_claim_about_a_variant_run_is_measured_on_that_run_at_both_scales():
    """dd.network_scaled is about the small-final-step run: at quick scale its quick-scaled preset,
    at paper scale the paper's own final-layer-0.001 run (not the base run, which has the bump)."""
    from engine.present.claims import all_claims, presets_for

    claim = next(c for c in all_claims() if c.id == "dd.network_scaled")
    assert presets_for(claim, engine.get_experiment(claim.experiment)) == {
        "quick": "quick-scaled",
        "paper": "paper-final-0.001",
    }
    plain = next(c for c in all_claims() if c.id == "dd.network_bump")
    assert presets_for(plain, engine.get_experiment(plain.experiment)) == {"quick": "quick", "paper": "paper"}
