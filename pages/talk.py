"""Talk mode: a talk file (talks/*.toml) played one slide per screen, from the cache.

The URL holds the talk and the slide (``/talk?talk=example&slide=3``), so a reload returns to the
same slide. ← / → (or the buttons) move between slides. Check a talk before the day with
``python -m engine talk check talks/NAME.toml``.
"""

import time

import streamlit as st

import engine
import ui.widgets as w
from engine.present import talk as talks
from engine.core.validation import ConfigError
from ui.home import home_page

STYLE = """<style>
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], [data-testid="stHeader"] {display: none;}
.block-container {padding-top: 1.2rem; max-width: 96%;}
h1 {font-size: 2.8rem !important;}
.st-key-talk_bullets li {font-size: 1.6rem; line-height: 1.35; margin-bottom: 0.7rem;}
.talk-count {text-align: center; font-size: 1.2rem; padding-top: 0.4rem;}
</style>"""


def go(talk_name: str, number: int, slider_keys: list[str]) -> None:
    """Move to slide ``number``: a clean URL, and the live sliders back at the slide's values."""
    for key in slider_keys:
        st.session_state.pop(key, None)
    st.query_params.clear()
    st.query_params.update(talk=talk_name, slide=str(number))


def bullets(items) -> None:
    if items:
        st.container(key="talk_bullets").markdown("\n".join(f"- {b}" for b in items))


def live_sliders(slide) -> dict:
    """One select-slider per live slider field; the chosen values."""
    starts = talks.slider_starts(slide)
    return {
        name: w.select_slider(name, f"talk_s{slide.number}_{name}", options, starts[name])
        for name, options in talks.slider_options(slide).items()
    }


@st.cache_data(max_entries=64, show_spinner=False)
def cached_spec(key: str, _slide, _live: dict):
    """The slide's projector-ready chart spec from the result cache (None when not cached), kept
    in memory so a revisited or prefetched slide shows at once. ``key`` names slide and values.
    Raises LookupError when the result is not cached (exceptions are not memoised)."""
    spec = talks.slide_spec(_slide, _live)
    if spec is None:
        raise LookupError(key)
    return spec


def slide_spec(slide, live: dict):
    """The slide's chart spec: from the cache, else computed live with a progress bar (the
    preflight warns about this); None after showing an error."""
    try:
        try:
            return cached_spec(talks.spec_key(slide, live), slide, live)
        except LookupError:
            pass
        notice = st.warning("Not in the cache: computing live. "
                            "`python -m engine talk precompute` fills it before the talk.")
        bar = st.progress(0.0)
        start = time.perf_counter()
        frame = engine.run(slide.experiment, talks.resolved_config(slide, live),
                           preset=slide.preset, progress=lambda f, m: bar.progress(f, text=m))
        bar.empty()
        notice.empty()
        st.toast(f"Computed live in {time.perf_counter() - start:.1f} s; now cached.")
        return talks.spec_of(slide, frame)
    except ConfigError as err:
        st.error(str(err))
    except FloatingPointError as err:
        st.error(f"The run diverged: {err}")
    return None


def prefetch(slide) -> None:
    """Build the next slide's chart ahead of time (after this slide is on screen)."""
    if slide.experiment is not None and slide.number not in talk.pending:
        try:
            cached_spec(talks.spec_key(slide), slide, {})
        except LookupError:  # not cached: the preflight says so; nothing to prefetch
            pass


st.html(STYLE)
names = [p.stem for p in talks.talk_files()]
if not names:
    st.error(f"No talk files in {talks.TALKS_DIR}: copy talks/example.toml there and edit it.")
    st.stop()
talk_name = st.query_params.get("talk", "example")
talk_name = talk_name if talk_name in names else names[0]
try:
    talk = talks.load_talk(talks.TALKS_DIR / f"{talk_name}.toml")
except talks.TalkError as err:
    st.error(str(err))
    st.stop()
try:
    number = int(st.query_params.get("slide", "1"))
except ValueError:
    number = 1
slide = talk.slide(number)
number = slide.number
if st.query_params.get("slide") != str(number) or st.query_params.get("talk") != talk_name:
    st.query_params.update(talk=talk_name, slide=str(number))

st.title(slide.title)
if slide.experiment is None:
    if number == 1 and (talk.author or talk.date):
        st.subheader(" · ".join(x for x in (talk.author, talk.date) if x))
    bullets(slide.bullets)
elif slide.number in talk.pending:
    st.info(f"This slide shows {slide.experiment}, but {talk.pending[slide.number]}.")
    bullets(slide.bullets)
else:
    chart_col, text_col = st.columns([3, 2]) if slide.bullets or slide.sliders else (st.container(), None)
    with text_col or chart_col:
        bullets(slide.bullets)
        live = live_sliders(slide)
    with chart_col:
        spec = slide_spec(slide, live)
        if spec is not None:
            st.vega_lite_chart(spec, width="stretch")
if slide.notes:
    with st.expander("Speaker notes"):
        st.markdown(slide.notes)

slider_keys = [k for k in st.session_state if str(k).startswith("talk_s")]
prev_col, count_col, next_col, exit_col = st.columns([1, 2, 1, 1])
prev_col.button("← Previous", key="talk_prev", shortcut="Left", disabled=number == 1,
                on_click=go, args=(talk_name, number - 1, slider_keys), width="stretch")
count_col.markdown(f"<div class='talk-count'>{number} / {len(talk.slides)} · {talk.title}</div>",
                   unsafe_allow_html=True)
next_col.button("Next →", key="talk_next", shortcut="Right", disabled=number == len(talk.slides),
                on_click=go, args=(talk_name, number + 1, slider_keys), width="stretch")
exit_col.page_link(st.Page(home_page, title="Home", url_path="home", default=True),
                   label="Exit talk", icon=":material/close:")
if number < len(talk.slides):
    prefetch(talk.slide(number + 1))
