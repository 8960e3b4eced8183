"""Talks: a small TOML file of slides that the app plays from the cache, and its preflight.

A talk file (see ``talks/example.toml``)::

    title = "Five phenomena of deep learning"
    author = "A. Student"

    [[slides]]
    title = "Linear autoencoders find the axes, eventually"
    experiment = "linear_ae.dynamics"   # a registered experiment (python -m engine list)
    preset = "quick"                    # optional; default quick
    config = { steps = 5000 }           # optional overrides on the preset's config
    chart = "alignment"                 # optional; default: the experiment's first chart
    bullets = ["Uniform L2 stalls", "RAG aligns fast"]
    sliders = ["k"]                     # optional live sliders over config fields
    slider_values = { k = [2, 4, 6] }   # optional positions (default: the quick sweep's values)
    slider_labels = { k = "latent dimension k" }  # optional words above each slider
    notes = "what to say"               # optional speaker notes

A slide without ``experiment`` is a text slide. :func:`load_talk` parses and validates (every
problem names its slide; slides of a phenomenon not built yet are kept in ``Talk.pending``); :mod:`engine.present.talk_check` checks, without ever computing, that every slide is
in the cache and renders, and fills what is missing.
"""

from __future__ import annotations

import itertools
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.core.experiment import Experiment, config_from_dict, config_to_dict
from engine.core.registry import load_experiments, phenomena
from engine.core.runner import get_experiment, is_cached, resolve_config
from engine.core.validation import ConfigError

TALKS_DIR = Path(__file__).resolve().parents[2] / "talks"
SLIDE_KEYS = (
    "title",
    "bullets",
    "experiment",
    "preset",
    "config",
    "chart",
    "sliders",
    "slider_values",
    "slider_labels",
    "notes",
)
TALK_KEYS = ("title", "author", "date", "slides")
MAX_BULLETS = 6
MAX_SLIDER_POSITIONS = 200  # per slide: the product of every slider's positions


class TalkError(ConfigError):
    """A talk file that cannot be played; the message lists every problem, each naming its slide."""


@dataclass(frozen=True)
class Slide:
    """One slide; ``number`` is 1-based as in the player's URL (``?slide=3``)."""

    number: int
    title: str
    bullets: tuple[str, ...] = ()
    experiment: str | None = None
    preset: str = "quick"
    config: dict[str, Any] = field(default_factory=dict)  # overrides on the preset's config
    chart: str | None = None
    sliders: tuple[str, ...] = ()
    slider_values: dict[str, tuple] = field(default_factory=dict)  # explicit positions
    slider_labels: dict[str, str] = field(default_factory=dict)  # what the audience reads
    notes: str = ""

    def slider_label(self, name: str) -> str:
        """The words above a live slider: the talk's label, else the field's name in words."""
        return self.slider_labels.get(name) or name.replace("_", " ")

    @property
    def label(self) -> str:
        """How messages name the slide: ``slide 3 ('Title')``."""
        return f"slide {self.number} ({self.title!r})"

    def overrides(self, live: dict[str, Any] | None = None) -> dict[str, Any]:
        """The slide's config overrides, with live slider values on top."""
        return {**self.config, **(live or {})}


@dataclass(frozen=True)
class Talk:
    """A parsed talk. ``pending`` maps slide numbers to why they could not be checked (their
    phenomenon is not built yet)."""

    title: str
    slides: tuple[Slide, ...]
    author: str = ""
    date: str = ""
    path: str = ""
    pending: dict[int, str] = field(default_factory=dict)

    def slide(self, number: int) -> Slide:
        """Slide ``number`` clamped to [1, len(slides)] (a hand-edited URL never fails)."""
        return self.slides[min(max(int(number), 1), len(self.slides)) - 1]


# ----------------------------------------------------------------------------- parsing


def talk_files(folder: Path = TALKS_DIR) -> list[Path]:
    """The talk files in ``folder`` (``talks/`` by default), by name."""
    return sorted(folder.glob("*.toml")) if folder.exists() else []


def load_talk(path: str | Path) -> Talk:
    """Read, parse and validate a talk file; raise :class:`TalkError` listing every problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise TalkError(f"cannot read the talk file {str(path)!r}: {err.strerror or err}") from None
    return parse_talk(text, source=str(path))


def parse_talk(text: str, source: str = "<talk>") -> Talk:
    """Parse and validate talk text (TOML); see the module docstring for the format."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise TalkError(f"{source} is not valid TOML: {err}") from None
    problems = []
    unknown = [k for k in data if k not in TALK_KEYS]
    if unknown:
        problems.append(f"unknown top-level key {unknown[0]!r}; allowed: {', '.join(TALK_KEYS)}")
    raw_slides = data.get("slides")
    if not isinstance(raw_slides, list) or not raw_slides or not all(isinstance(s, dict) for s in raw_slides):
        problems.append("a talk needs at least one [[slides]] table")
        raw_slides = []
    slides, broken = [], set()
    for number, raw in enumerate(raw_slides, start=1):
        slide, slide_problems = _parse_slide(number, raw)
        slides.append(slide)
        problems += slide_problems
        if slide_problems:
            broken.add(number)
    pending, registry_problems = _registry_problems([s for s in slides if s.number not in broken])
    problems += registry_problems
    if problems:
        raise TalkError(_problem_text(source, problems))
    return Talk(
        title=_text(data.get("title", "")),
        author=_text(data.get("author", "")),
        date=_text(data.get("date", "")),
        slides=tuple(slides),
        path=source,
        pending=pending,
    )


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def _problem_text(source: str, problems: list[str]) -> str:
    """All problems under one heading, in slide order."""
    problems = sorted(problems, key=lambda p: int(m.group(1)) if (m := re.match(r"slide (\d+)", p)) else 0)
    head = f"{source}: {len(problems)} problem{'s' if len(problems) > 1 else ''}"
    return head + "\n" + "\n".join(f"  - {p}" for p in problems)


def _parse_slide(number: int, raw: dict[str, Any]) -> tuple[Slide, list[str]]:
    """Shape checks of one slide table (types and keys); the registry is not consulted here."""
    title = raw.get("title")
    label = f"slide {number}" + (f" ({title!r})" if isinstance(title, str) else "")
    problems = []
    unknown = [k for k in raw if k not in SLIDE_KEYS]
    if unknown:
        problems.append(f"{label}: unknown key {unknown[0]!r}; allowed: {', '.join(SLIDE_KEYS)}")
    if not isinstance(title, str) or not title.strip():
        problems.append(f"{label}: 'title' must be a non-empty string")
    expectations = {
        "bullets": (
            lambda v: isinstance(v, list) and len(v) <= MAX_BULLETS and all(isinstance(b, str) for b in v),
            f"a list of at most {MAX_BULLETS} strings",
        ),
        "experiment": (
            lambda v: isinstance(v, str) and "." in v,
            "an experiment name like 'linear_ae.dynamics'",
        ),
        "preset": (lambda v: isinstance(v, str), "a preset name such as 'quick'"),
        "config": (lambda v: isinstance(v, dict), "a table of config fields, e.g. { k = 4 }"),
        "chart": (lambda v: isinstance(v, str), "a chart name"),
        "sliders": (
            lambda v: isinstance(v, list) and all(isinstance(s, str) for s in v),
            "a list of config field names",
        ),
        "slider_values": (
            lambda v: isinstance(v, dict) and all(isinstance(x, list) and x for x in v.values()),
            "a table of non-empty lists, e.g. { k = [2, 4] }",
        ),
        "slider_labels": (
            lambda v: (
                isinstance(v, dict) and all(isinstance(x, str) and 0 < len(x) <= 80 for x in v.values())
            ),
            'a table of labels of at most 80 characters, e.g. { k = "latent dimension k" }',
        ),
        "notes": (lambda v: isinstance(v, str), "a string"),
    }
    for key, (ok, allowed) in expectations.items():
        if key in raw and not ok(raw[key]):
            problems.append(f"{label}: {key!r} must be {allowed}. Got {raw[key]!r} instead.")
    if "experiment" not in raw:
        stray = [
            k for k in ("preset", "config", "chart", "sliders", "slider_values", "slider_labels") if k in raw
        ]
        if stray:
            problems.append(f"{label}: {stray[0]!r} needs an 'experiment'")
    if problems:
        return Slide(number=number, title=str(title)), problems
    return Slide(
        number=number,
        title=title.strip(),
        bullets=tuple(raw.get("bullets", ())),
        experiment=raw.get("experiment"),
        preset=raw.get("preset", "quick"),
        config=dict(raw.get("config", {})),
        chart=raw.get("chart"),
        sliders=tuple(raw.get("sliders", ())),
        slider_values={k: tuple(v) for k, v in raw.get("slider_values", {}).items()},
        slider_labels=dict(raw.get("slider_labels", {})),
        notes=raw.get("notes", ""),
    ), []


# ----------------------------------------------------------------------------- validation


def _registry_problems(slides: list[Slide]) -> tuple[dict[int, str], list[str]]:
    """Validate slides against the registry: ``(pending, problems)``, each problem naming its slide.

    Slides of a phenomenon that is listed but not built (or failed to load) are not checked: they
    come back in ``pending`` so that a talk can be written before its last page lands.
    """
    known = load_experiments()
    listed = {p.name for p in phenomena()}
    problems, pending = [], {}
    for slide in slides:
        if slide.experiment is None:
            continue
        phenomenon = slide.experiment.split(".", 1)[0]
        if slide.experiment not in known and phenomenon in listed and not _built(phenomenon, known):
            pending[slide.number] = f"the {phenomenon} phenomenon is not built yet"
            continue
        problems += [f"{slide.label}: {p}" for p in slide_problems(slide)]
    return pending, problems


def _built(phenomenon: str, known: dict[str, Experiment]) -> bool:
    return any(name.split(".", 1)[0] == phenomenon for name in known)


def slide_problems(slide: Slide) -> list[str]:
    """What is wrong with one experiment slide (empty when it is playable)."""
    try:
        exp = get_experiment(slide.experiment)
    except ConfigError as err:
        return [str(err)]
    if slide.preset not in exp.presets:
        return [f"unknown preset {slide.preset!r} of {exp.name}; allowed: {', '.join(exp.presets)}"]
    problems = []
    try:
        base = resolve_config(exp.name, slide.config, preset=slide.preset)
    except (ConfigError, TypeError) as err:
        return [str(err)]
    if slide.chart is not None and slide.chart not in exp.charts:
        problems.append(f"unknown chart {slide.chart!r} of {exp.name}; allowed: {', '.join(exp.charts)}")
    fields = list(config_to_dict(base))
    for name in list(slide.sliders) + [k for k in slide.slider_values if k not in slide.sliders]:
        if name not in fields:
            problems.append(
                f"slider {name!r} is not a field of {exp.config_cls.__name__}; allowed: {', '.join(fields)}"
            )
        elif name not in slide.sliders:
            problems.append(f"slider_values names {name!r}, which is not in 'sliders'")
    if problems:
        return problems
    try:
        options = slider_options(slide)
    except ConfigError as err:
        return [str(err)]
    for name, values in options.items():
        for value in values:
            try:
                config_from_dict(exp.config_cls, {name: value}, base=base)
            except (ConfigError, TypeError) as err:
                problems.append(f"slider {name!r} position {value!r}: {err}")
    count = 1
    for values in options.values():
        count *= len(values)
    if count > MAX_SLIDER_POSITIONS:
        problems.append(
            f"the sliders have {count} combined positions; at most {MAX_SLIDER_POSITIONS} "
            "can be precomputed for a talk: give fewer slider_values"
        )
    return problems


def slider_options(slide: Slide) -> dict[str, list]:
    """Each live slider's positions: ``slider_values`` if given, else the values the experiment's
    sweep grid for the slide's preset takes (plus the slide's own value), sorted."""
    if not slide.sliders:
        return {}
    exp = get_experiment(slide.experiment)
    base = config_to_dict(resolve_config(exp.name, slide.config, preset=slide.preset))
    grid = [config_to_dict(c) for c in exp.grid(slide.preset)] if slide.preset in exp.sweeps else []
    options = {}
    for name in slide.sliders:
        if name in slide.slider_values:
            values = [_hashable(v) for v in slide.slider_values[name]]
        else:
            values = [_hashable(g[name]) for g in grid] + [_hashable(base[name])]
        values = sorted(set(values), key=_sort_key)
        if len(values) < 2:
            raise ConfigError(
                f"slider {name!r} has no positions to choose from ({exp.name} sweeps no values of it "
                f"at preset {slide.preset!r}); give them, e.g. slider_values = {{ {name} = [...] }}"
            )
        options[name] = values
    return options


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def slider_starts(slide: Slide) -> dict[str, Any]:
    """Each live slider's starting position: the slide's own config value."""
    config = config_to_dict(resolved_config(slide))
    return {name: _hashable(config[name]) for name in slide.sliders}


def _sort_key(value: Any) -> tuple:
    return (str(type(value)), value)


def slide_configs(slide: Slide, *, sliders: bool = True) -> list[dict[str, Any]]:
    """The overrides the slide can show: its own config first, then every live slider position."""
    out = [slide.overrides()]
    for live in slider_positions(slide) if sliders else []:
        overrides = slide.overrides(live)
        if overrides not in out:
            out.append(overrides)
    return out


def slider_positions(slide: Slide) -> list[dict[str, Any]]:
    """Every combination of live slider values, as dicts (empty without sliders)."""
    if not slide.sliders:
        return []
    options = slider_options(slide)
    return [dict(zip(options, values)) for values in itertools.product(*options.values())]


def resolved_config(slide: Slide, live: dict[str, Any] | None = None) -> Any:
    """The slide's validated config object (with live slider values)."""
    return resolve_config(slide.experiment, slide.overrides(live), preset=slide.preset)


def is_slide_cached(slide: Slide, live: dict[str, Any] | None = None) -> bool:
    """Whether the slide's result (with live slider values) is in the cache."""
    return is_cached(slide.experiment, slide.overrides(live), preset=slide.preset)
