"""The claims scoreboard: every registered claim listed, statuses decided at the claim's own scale,
paper scale read from the cache only (never computed), and the home page's table."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

import engine
from engine.core import cache
from engine.present import claims
from engine.core.experiment import Claim, config_to_dict

ROOT = Path(__file__).resolve().parent.parent
NAME = "linear_ae.snapshot"  # quick default: 2000 steps, ~0.3 s


def max_cos(frame: pd.DataFrame) -> float:
    return float(frame["abs_cos"].max())


def claim(holds, *, preset="quick", measure=max_cos, paper_value=None) -> Claim:
    return Claim("test.claim", "a test claim", NAME, measure=measure, holds=holds, preset=preset,
                 paper_value=paper_value, unit="|cos|")


def test_scales_and_presets():
    assert [claims.scale_of(p) for p in ("quick", "quick-scaled", "paper", "paper-final-0.001")] == [
        "quick", "quick", "paper", "paper"]
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
    assert broken.status == claims.FAILED and "KeyError" in broken.note
    paper = claims.evaluate(claim(lambda v: True, preset="paper", paper_value=1.0), source)
    assert paper.status == claims.NOT_COMPUTED and paper.paper is None
    assert paper.quick == reproduced.quick  # measured at quick scale all the same
    assert not engine.is_cached(NAME, preset="paper")  # paper scale is never computed


def test_paper_scale_is_read_from_the_cache(fresh_cache):
    exp = engine.get_experiment(NAME)
    paper_frame = pd.DataFrame({"variant": ["rotation"] * 2, "abs_cos": [0.25, 0.5]})
    config = config_to_dict(exp.presets["paper"])
    cache.store(NAME, exp.version, config, cache.make_entry(paper_frame, {"device": "cuda", "seconds": 9.0}))
    result = claims.evaluate(claim(lambda v: v < 0.6, preset="paper"), claims.FrameSource())
    assert result.paper == 0.5 and result.status == claims.REPRODUCED and result.quick is None
    loaded = engine.load_cached(NAME, preset="paper")
    assert loaded.attrs["device"] == "cuda" and loaded.attrs["cache_key"] == cache.entry_key(NAME, exp.version, config)


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


def test_home_page_shows_the_scoreboard(fresh_cache):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    assert not at.exception, [e.value for e in at.exception]
    (board,) = at.dataframe
    registered = [c for exp in engine.experiments().values() for c in exp.claims]
    assert len(board.value) == len(registered)
    assert set(board.value["claim"]) == {c.text for c in registered}
    assert set(board.value["status"]) == {claims.NOT_COMPUTED}
