"""Talk files: parsing and validation (every problem names its slide), the preflight (never
computes; fails with what to precompute; passes once cached), precompute, the CLI and the player
page under AppTest."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import engine
from engine import cli
from engine.core import cache
from engine.core.registry import phenomena
from engine.present import talk as talks
from engine.present import talk_check

ROOT = Path(__file__).resolve().parent.parent
SMALL = {"steps": 300, "record_every": 50}  # a linear_ae.dynamics run of ~0.05 s
SMALL_TOML = "config = { steps = 300, record_every = 50 }"


def talk_text(*slides: str, title: str = "Test talk") -> str:
    return f'title = "{title}"\n' + "".join(f"\n[[slides]]\n{s}\n" for s in slides)


INTRO = 'title = "Intro"\nbullets = ["one", "two"]'
LAE = f'title = "LAE"\nexperiment = "linear_ae.dynamics"\n{SMALL_TOML}\nchart = "subspace"'


def problems_of(text: str) -> str:
    with pytest.raises(talks.TalkError) as info:
        talks.parse_talk(text, source="t.toml")
    return str(info.value)


# ----------------------------------------------------------------------------- parsing


def test_a_good_talk_parses_into_slides():
    talk = talks.parse_talk(talk_text(INTRO, LAE), source="t.toml")
    assert [s.title for s in talk.slides] == ["Intro", "LAE"]
    assert talk.slides[0].experiment is None and talk.slides[0].bullets == ("one", "two")
    lae = talk.slides[1]
    assert (lae.experiment, lae.preset, lae.chart, lae.config) == (
        "linear_ae.dynamics",
        "quick",
        "subspace",
        SMALL,
    )
    config = talks.resolved_config(lae)
    assert config == engine.resolve_config("linear_ae.dynamics", SMALL)
    assert talk.slide(0).number == 1 and talk.slide(99).number == 2  # clamped, never an IndexError


def test_unknown_experiment_and_out_of_range_field_name_their_slides():
    text = talk_text(
        INTRO,
        'title = "Ghost"\nexperiment = "linear_ae.ghost"',
        'title = "Too small"\nexperiment = "linear_ae.dynamics"\nconfig = { k = 0 }',
    )
    message = problems_of(text)
    assert "2 problems" in message
    assert "slide 2 ('Ghost'): Unknown experiment 'linear_ae.ghost'" in message
    assert (
        "slide 3 ('Too small'): The 'k' parameter of DynamicsConfig must be an int in [1, 784]. "
        "Got 0 instead."
    ) in message
    assert "slide 1" not in message


@pytest.mark.parametrize(
    "slide, expected",
    [
        ('title = "X"\ncolour = "red"', "slide 2 ('X'): unknown key 'colour'"),
        ('bullets = ["no title"]', "slide 2: 'title' must be a non-empty string"),
        ('title = "X"\nbullets = "not a list"', "slide 2 ('X'): 'bullets' must be a list"),
        ('title = "X"\nchart = "loss"', "slide 2 ('X'): 'chart' needs an 'experiment'"),
        (
            'title = "X"\nexperiment = "linear_ae.dynamics"\nchart = "pie"',
            "unknown chart 'pie' of linear_ae.dynamics",
        ),
        ('title = "X"\nexperiment = "linear_ae.dynamics"\npreset = "huge"', "unknown preset 'huge'"),
        (
            'title = "X"\nexperiment = "linear_ae.dynamics"\nconfig = { width = 3 }',
            "has no parameter 'width'",
        ),
        ('title = "X"\nexperiment = "linear_ae.dynamics"\nsliders = ["zz"]', "slider 'zz' is not a field"),
        (
            'title = "X"\nexperiment = "linear_ae.dynamics"\nsliders = ["k"]\nslider_values = { k = [2, 0] }',
            "slider 'k' position 0: The 'k' parameter of DynamicsConfig must be an int",
        ),
        (
            'title = "X"\nexperiment = "linear_ae.dynamics"\nsliders = ["seed"]',
            "slider 'seed' has no positions to choose from",
        ),
        (
            'title = "X"\nexperiment = "no_such_paper.thing"',
            "slide 2 ('X'): Unknown experiment 'no_such_paper.thing'",
        ),
    ],
)
def test_each_bad_slide_gets_a_clear_message(slide, expected):
    assert expected in problems_of(talk_text(INTRO, slide))


def test_bad_toml_and_empty_talk():
    assert "is not valid TOML" in problems_of("title = \n")
    assert "at least one [[slides]]" in problems_of('title = "x"\n')
    with pytest.raises(talks.TalkError, match="cannot read the talk file"):
        talks.load_talk("/nonexistent/talk.toml")


def test_slides_of_a_phenomenon_not_built_yet_parse_as_pending(monkeypatch):
    only_lae = {n: e for n, e in engine.experiments().items() if n.startswith("linear_ae.")}
    monkeypatch.setattr(talks, "load_experiments", lambda: only_lae)
    text = talk_text(INTRO, LAE, 'title = "Kernels"\nexperiment = "ntk.anything"')
    talk = talks.parse_talk(text)
    assert talk.pending == {3: "the ntk phenomenon is not built yet"}
    check = talk_check.preflight(talk, render=False).checks[2]
    assert check.status == "pending" and not check.passed


def test_slider_positions_come_from_the_quick_sweep():
    slide = talks.parse_talk(talk_text(f'{LAE}\nsliders = ["k", "lam"]')).slides[0]
    grid = engine.get_experiment("linear_ae.dynamics").grid("quick")
    own = engine.resolve_config("linear_ae.dynamics", SMALL)
    options = talks.slider_options(slide)
    assert options["k"] == sorted({c.k for c in grid} | {own.k})
    assert options["lam"] == sorted({c.lam for c in grid} | {own.lam})
    positions = talks.slider_positions(slide)
    assert len(positions) == len(options["k"]) * len(options["lam"])
    configs = talks.slide_configs(slide)
    assert configs[0] == SMALL and len(configs) == len(positions) + 1  # own config is one position


#: The five papers the example talk presents (a phenomenon added later, e.g. by `engine new`, is
#: not in it until someone writes its slides).
FIVE_PAPERS = {"generalization", "double_descent", "ntk", "smoothing", "linear_ae"}


def test_example_talk_is_valid_and_covers_the_five_phenomena():
    talk = talks.load_talk(ROOT / "talks" / "example.toml")
    shown = {s.experiment.split(".")[0] for s in talk.slides if s.experiment}
    assert shown == FIVE_PAPERS
    assert {p.name for p in phenomena()} >= FIVE_PAPERS
    assert all(1 <= len(s.bullets) <= 3 for s in talk.slides)
    built = {n.split(".")[0] for n in engine.experiments()}
    pending = {talk.slide(n).experiment.split(".")[0] for n in talk.pending}
    assert not pending & built  # only slides of phenomena still being built are unchecked


# ----------------------------------------------------------------------------- preflight


def write_talk(tmp_path: Path, *slides: str) -> Path:
    path = tmp_path / "talk.toml"
    path.write_text(talk_text(*slides))
    return path


def test_preflight_fails_when_not_cached_never_computes_and_passes_once_filled(tmp_path, fresh_cache):
    talk = talks.load_talk(write_talk(tmp_path, INTRO, LAE))
    before = talk_check.preflight(talk)
    assert not before.ok
    assert [c.status for c in before.checks] == ["text", "missing"]
    assert not engine.is_cached("linear_ae.dynamics", SMALL)  # the preflight computed nothing
    (command,) = before.commands()
    assert command == "python -m engine run linear_ae.dynamics --set steps=300 --set record_every=50"
    text = "\n".join(before.lines("talk.toml"))
    assert "FAILED: 1 slide(s)" in text and "python -m engine talk precompute talk.toml" in text
    assert "slide 2 ('LAE'): linear_ae.dynamics [quick]: MISSING" in text

    assert talk_check.precompute_talk(talk) == []
    after = talk_check.preflight(talk)
    assert after.ok and [c.status for c in after.checks] == ["text", "ok"]
    assert after.slowest().slide.number == 2 and after.slowest().seconds > 0
    assert "ok: every slide shows from the cache." in "\n".join(after.lines("talk.toml"))


def test_the_suggested_run_command_fills_exactly_the_slide(tmp_path, fresh_cache):
    talk = talks.load_talk(write_talk(tmp_path, LAE.replace("300", "200")))
    command = talk_check.preflight(talk, render=False).commands()[0].split()
    assert command[:4] == ["python", "-m", "engine", "run"]
    assert cli.main(command[3:] + ["--out", str(tmp_path / "out.csv")]) == 0
    assert talk_check.preflight(talk, render=False).ok


def test_uncached_live_slider_positions_are_warnings_until_precomputed(tmp_path, fresh_cache):
    slide = f'{LAE}\nsliders = ["k"]\nslider_values = {{ k = [2, 3] }}'
    talk = talks.load_talk(write_talk(tmp_path, slide))
    talk_check.precompute_talk(talk, sliders=False)
    check = talk_check.preflight(talk, render=False).checks[0]
    assert check.passed and check.missing_sliders == [{"k": 2}, {"k": 3}]
    assert "2 live slider position(s) are not cached" in "\n".join(
        talk_check.preflight(talk, render=False).lines("t")
    )
    talk_check.precompute_talk(talk)
    assert talk_check.preflight(talk, render=False).checks[0].missing_sliders == []


def test_a_damaged_entry_is_reported_missing_and_not_recomputed(tmp_path, fresh_cache):
    talk = talks.load_talk(write_talk(tmp_path, LAE))
    talk_check.precompute_talk(talk)
    (stored,) = list((fresh_cache / "linear_ae.dynamics").rglob(cache.ENTRY_FILE))
    stored.write_bytes(stored.read_bytes()[:100])
    assert talk_check.preflight(talk, render=False).checks[0].status == "missing"
    assert len(stored.read_bytes()) == 100  # still damaged: nothing was computed


def test_a_chart_that_fails_on_its_frame_fails_the_preflight(tmp_path, fresh_cache, monkeypatch):
    talk = talks.load_talk(write_talk(tmp_path, LAE))
    talk_check.precompute_talk(talk)

    def broken(slide, frame):
        raise KeyError("axis_alignment")

    monkeypatch.setattr(talk_check, "spec_of", broken)
    result = talk_check.preflight(talk, render=False)
    assert not result.ok and result.checks[0].status == "error"
    assert "the chart fails: KeyError" in "\n".join(result.lines("t"))


def test_cli_talk_check_exit_codes(tmp_path, fresh_cache, capsys):
    good = write_talk(tmp_path, INTRO, LAE)
    assert cli.main(["talk", "check", str(good)]) == 1
    assert "FAILED" in capsys.readouterr().out
    assert cli.main(["talk", "precompute", str(good)]) == 0
    assert cli.main(["talk", "check", str(good)]) == 0
    assert "slowest slide: slide 2 ('LAE')" in capsys.readouterr().out
    bad = tmp_path / "bad.toml"
    bad.write_text(talk_text('title = "Oops"\nexperiment = "linear_ae.dynamics"\nconfig = { lr = -1.0 }'))
    assert cli.main(["talk", "check", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "slide 1 ('Oops'): The 'lr' parameter" in err


# ----------------------------------------------------------------------------- the player page


@pytest.fixture
def talk_dir(tmp_path, fresh_cache, monkeypatch):
    folder = tmp_path / "talks"
    folder.mkdir()
    (folder / "example.toml").write_text(
        talk_text(INTRO, f'{LAE}\nbullets = ["look"]\nsliders = ["k"]\nslider_values = {{ k = [3, 4] }}')
    )
    monkeypatch.setattr(talks, "TALKS_DIR", folder)
    talk_check.precompute_talk(talks.load_talk(folder / "example.toml"), sliders=False)
    return folder


def player(**params) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / "talk.py"), default_timeout=60)
    at.query_params.update(params)
    return at.run()


def no_errors(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def test_player_shows_the_slide_in_the_url_and_moves_on(talk_dir):
    at = player(slide="2")
    no_errors(at)
    assert at.title[0].value == "LAE"
    assert sum("class='talk-svg'><svg" in m.value for m in at.markdown) == 1  # the slide's chart, inline SVG
    assert not at.warning  # cached: nothing computed on stage
    at.button(key="talk_prev").click().run()
    no_errors(at)
    assert at.title[0].value == "Intro" and at.query_params["slide"] in ("1", ["1"])
    assert at.button(key="talk_prev").disabled


def test_player_clamps_a_bad_slide_number_and_computes_a_live_slider_position(talk_dir):
    at = player(slide="99")
    assert at.title[0].value == "LAE" and at.query_params["slide"] in ("2", ["2"])
    assert player(slide="banana").title[0].value == "Intro"
    at.select_slider(key="talk_s2_k").set_value(3).run()
    no_errors(at)
    assert engine.is_cached("linear_ae.dynamics", {**SMALL, "k": 3})


def test_player_names_the_bad_slide_of_a_broken_talk(talk_dir):
    (talk_dir / "example.toml").write_text(
        talk_text(INTRO, 'title = "Broken"\nexperiment = "linear_ae.nope"')
    )
    at = player()
    assert at.error and "slide 2 ('Broken')" in at.error[0].value
