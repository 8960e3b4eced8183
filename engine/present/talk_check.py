"""A talk's preflight: check, without ever computing, that every slide is in the cache and renders
(and how long each takes), name the commands that fill what is missing, and fill it on request.

Parsing and validating talk files lives in :mod:`engine.present.talk`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from engine.core import cache
from engine.core.experiment import config_to_dict
from engine.core.runner import get_experiment, load_cached, resolve_config
from engine.present.talk import Slide, Talk, is_slide_cached, resolved_config, slide_configs, slider_positions

# ----------------------------------------------------------------------------- preflight


@dataclass
class SlideCheck:
    """What the preflight found for one slide."""

    slide: Slide
    status: str  # "ok", "text" (no experiment), "missing", "pending" or "error"
    seconds: float = 0.0  # load from cache + build and serialise the chart (what the player does)
    render_seconds: float = 0.0  # rendering the chart to SVG with vl-convert (the proof it draws)
    message: str = ""
    missing_sliders: list[dict[str, Any]] = field(default_factory=list)  # uncached live positions

    @property
    def passed(self) -> bool:
        return self.status in ("ok", "text")

    def summary(self) -> str:
        """One line: what the slide shows and what was found."""
        if self.status == "text":
            return "text slide, ok"
        what = f"{self.slide.experiment} [{self.slide.preset}]"
        if self.status == "ok":
            return f"{what}: cached, shows in {self.seconds:.2f} s (SVG render {self.render_seconds:.2f} s)"
        return f"{what}: {self.status.upper()}: {self.message}"


@dataclass
class Preflight:
    """The preflight of a whole talk."""

    talk: Talk
    checks: list[SlideCheck]

    @property
    def ok(self) -> bool:
        return all(c.passed for c in self.checks)

    def slowest(self) -> SlideCheck | None:
        timed = [c for c in self.checks if c.status == "ok"]
        return max(timed, key=lambda c: c.seconds) if timed else None

    def lines(self, talk_file: str) -> list[str]:
        """The human-readable report: one line per slide, the slowest, and what to precompute."""
        out = [f"talk {self.talk.title!r}: {len(self.checks)} slides ({talk_file})"]
        for c in self.checks:
            out.append(f"  {c.slide.label}: {c.summary()}")
        slowest = self.slowest()
        if slowest is not None:
            out.append(f"slowest slide: {slowest.slide.label}, {slowest.seconds:.2f} s")
        sliders = sum(len(c.missing_sliders) for c in self.checks)
        if sliders:
            out.append(
                f"warning: {sliders} live slider position(s) are not cached and would compute live "
                f"when chosen; fill them with `python -m engine talk precompute {talk_file}`"
            )
        failing = [c for c in self.checks if not c.passed]
        if failing:
            out.append(f"FAILED: {len(failing)} slide(s) would not show from the cache on stage.")
            for c in failing:
                if c.status == "pending":
                    out.append(f"  {c.slide.label}: {c.message}; drop the slide or build the phenomenon")
                elif c.status == "error":
                    out.append(f"  {c.slide.label}: {c.message}")
            commands = self.commands()
            if commands:
                out.append(
                    f"Fill the cache with `python -m engine talk precompute {talk_file}`, or slide by slide:"
                )
                out += [f"  {cmd}" for cmd in commands]
        else:
            out.append("ok: every slide shows from the cache.")
        return out

    def commands(self) -> list[str]:
        """One ``python -m engine run`` command per slide that is not cached."""
        return [run_command(c.slide) for c in self.checks if c.status == "missing"]


def run_command(slide: Slide) -> str:
    """The CLI command that computes exactly this slide's result."""
    parts = ["python -m engine run", slide.experiment]
    if slide.preset != "quick":
        parts.append(f"--preset {slide.preset}")
    for name, value in slide.config.items():
        parts.append(f"--set {name}={_cli_value(value)}")
    return " ".join(parts)


def _cli_value(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(_cli_value(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def load_cached_frame(slide: Slide, live: dict[str, Any] | None = None) -> pd.DataFrame | None:
    """The slide's frame from the cache, or None when absent or damaged. Never computes."""
    return load_cached(slide.experiment, resolved_config(slide, live), preset=slide.preset)


def slide_spec(slide: Slide, live: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The slide's chart as a projector-ready Vega-Lite spec, from the cache only (None if absent)."""
    frame = load_cached_frame(slide, live)
    return None if frame is None else spec_of(slide, frame)


def spec_of(slide: Slide, frame: pd.DataFrame) -> dict[str, Any]:
    """The slide's chart of ``frame`` sized for the slide (projector type, thick lines; the whole
    slide's width when it has no bullets or sliders beside the chart)."""
    from engine.present.figures import talk_spec

    chart = get_experiment(slide.experiment).chart(frame, slide.chart)
    return talk_spec(chart, wide=not (slide.bullets or slide.sliders))


def slide_svg(spec: dict[str, Any]) -> str:
    """The slide's chart as inline SVG markup that scales to its box (its type scales with it)."""
    from engine.present.figures import render

    svg = render(spec, "svg").decode()
    head, sep, rest = svg.partition(">")
    head = re.sub(r'\s(width|height)="[^"]*"', "", head)
    return head + ' width="100%" height="100%" preserveAspectRatio="xMidYMid meet"' + sep + rest


def spec_key(slide: Slide, live: dict[str, Any] | None = None) -> str:
    """A key that changes exactly when the slide's spec can: the result's cache key and the chart."""
    exp = get_experiment(slide.experiment)
    return f"{cache.entry_key(exp.name, exp.version, config_to_dict(resolved_config(slide, live)))}:{slide.chart}"


def check_slide(slide: Slide, pending: str | None = None, *, render: bool = True) -> SlideCheck:
    """Check one slide from the cache only: load, build the chart, render it; time each step."""
    if slide.experiment is None:
        return SlideCheck(slide, "text")
    if pending:
        return SlideCheck(slide, "pending", message=pending)
    start = time.perf_counter()
    frame = load_cached_frame(slide)
    if frame is None:
        return SlideCheck(slide, "missing", message="not in the cache: it would compute on stage")
    try:
        spec = spec_of(slide, frame)
    except Exception as err:  # a chart that fails on this frame fails on stage too
        return SlideCheck(slide, "error", message=f"the chart fails: {type(err).__name__}: {err}")
    seconds = time.perf_counter() - start
    render_seconds = 0.0
    if render:
        start = time.perf_counter()
        try:
            slide_svg(spec)
        except Exception as err:  # vl-convert's errors: the spec would not draw in the browser either
            return SlideCheck(slide, "error", seconds, message=f"the chart does not render: {err}")
        render_seconds = time.perf_counter() - start
    missing = [live for live in slider_positions(slide) if not is_slide_cached(slide, live)]
    return SlideCheck(slide, "ok", seconds, render_seconds, missing_sliders=missing)


def preflight(talk: Talk, *, render: bool = True) -> Preflight:
    """Check every slide from the cache (never computing); see :class:`Preflight`."""
    return Preflight(talk, [check_slide(s, talk.pending.get(s.number), render=render) for s in talk.slides])


def precompute_talk(
    talk: Talk,
    *,
    sliders: bool = True,
    jobs: int = 1,
    device: str = "cpu",
    on_result: Callable[[str, int, int], None] | None = None,
) -> list[str]:
    """Fill the cache with every slide's result (and live slider positions); return failures.

    Pending slides (phenomenon not built) are skipped. ``on_result(experiment, done, total)``.
    """
    from engine.sweep import precompute

    groups: dict[tuple[str, str], list] = {}
    for slide in talk.slides:
        if slide.experiment is None or slide.number in talk.pending:
            continue
        configs = groups.setdefault((slide.experiment, slide.preset), [])
        for overrides in slide_configs(slide, sliders=sliders):
            config = resolve_config(slide.experiment, overrides, preset=slide.preset)
            if config not in configs:
                configs.append(config)
    failures = []
    for (name, preset), configs in groups.items():
        progress = (lambda done, total, name=name: on_result(name, done, total)) if on_result else None
        summary = precompute(
            name,
            preset,
            jobs=jobs,
            backend="sequential" if jobs == 1 else "loky",
            device=device,
            on_result=progress,
            configs=configs,
        )
        failures += [f"{name} {config}: {error}" for config, error in summary.failures]
    return failures
