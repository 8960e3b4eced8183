"""Talk mode: a talk file (talks/*.toml) played one slide per screen, from the cache.

The URL holds the talk and the slide (``/talk?talk=example&slide=3``), so a reload returns to the
same slide. ← / → (or the buttons) move between slides. Check a talk before the day with
``python -m engine talk check talks/NAME.toml``.
"""

import contextlib

import streamlit as st

import engine
import ui.widgets as w
from engine.core.validation import ConfigError
from engine.present import talk as talks
from engine.present import talk_check
from ui.home import home_page

# The slide is one screen: a flex column of head (title), body (chart and text) and navigation that
# fills the viewport at any size from 1280x720 up; the body takes what head and navigation leave,
# and the chart fills its column in width and height (Vega-Lite "container" size).
STYLE = """<style>
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], [data-testid="stHeader"],
[data-testid="stToolbar"], [data-testid="stDecoration"] {display: none !important;}
.block-container {padding: 1.2vh 2.5vw 1vh 2.5vw !important; max-width: 100% !important; height: 100vh;}
.block-container > div[data-testid="stVerticalBlock"] {height: 100%; display: flex; flex-direction: column;
  flex-wrap: nowrap; gap: 0.6vh; overflow: hidden;}
[data-testid="stLayoutWrapper"]:has(> .st-key-talk_head), [data-testid="stLayoutWrapper"]:has(> .st-key-talk_nav),
[data-testid="stLayoutWrapper"]:has(> .st-key-talk_notice) {flex: 0 0 auto;}
.st-key-talk_head h1 {font-size: clamp(1.6rem, min(2.5vw, 4.4vh), 3.4rem) !important; line-height: 1.15;
  padding: 0 0 0.2em 0 !important; margin: 0 !important;}
.st-key-talk_head [data-testid="stMarkdownContainer"] {margin-bottom: 0 !important;}
.st-key-talk_head h3 {font-size: clamp(1.1rem, 1.6vw, 2rem) !important;}
[data-testid="stLayoutWrapper"]:has(> .st-key-talk_body) {flex: 1 1 0; min-height: 0; display: flex;
  flex-direction: column;}
.st-key-talk_body {flex: 1 1 0; min-height: 0; overflow: hidden;}
.st-key-talk_body [data-testid="stLayoutWrapper"], .st-key-talk_body [data-testid="stHorizontalBlock"],
.st-key-talk_body [data-testid="stColumn"] {height: 100%; min-height: 0;}
.st-key-talk_chart {height: 100%; min-height: 0; overflow: hidden;}
.st-key-talk_chart .stElementContainer:has(.talk-svg), .st-key-talk_chart .stMarkdown:has(.talk-svg),
.st-key-talk_chart .stMarkdown:has(.talk-svg) > div, .st-key-talk_chart [data-testid="stMarkdownContainer"]:has(.talk-svg),
.talk-svg, .talk-svg svg {width: 100% !important; height: 100% !important; min-height: 0; margin: 0;}
.st-key-talk_text {overflow-y: auto; max-height: 100%;}
.st-key-talk_text [data-testid="stWidgetLabel"] p, .st-key-talk_text [data-testid="stSliderThumbValue"],
.st-key-talk_text [data-testid="stSliderTickBar"] {font-size: clamp(1rem, min(1.3vw, 2.4vh), 1.9rem) !important;}
.st-key-talk_bullets li {font-size: clamp(1.05rem, min(1.45vw, 2.7vh), 2.1rem); line-height: 1.3;
  margin-bottom: 0.5em;}
.st-key-talk_nav {border-top: 1px solid rgba(128, 128, 128, 0.3); padding-top: 0.6vh;}
.talk-count {text-align: center; font-size: clamp(0.95rem, 1.1vw, 1.4rem); line-height: 1.3; padding: 0;
  white-space: nowrap; overflow: hidden; text-overflow: ellipsis;}
.st-key-talk_nav [data-testid="stMarkdownContainer"] p {margin: 0;}
</style>"""

# Arrow keys change the slide unless a text field has focus (a focused slider would otherwise
# take them): a capture-phase listener clicks the navigation buttons and takes the focus back.
KEYS = """<script>
(() => {
  const doc = window.parent ? window.parent.document : document;
  if (doc.__talkKeys) return;
  doc.__talkKeys = true;
  doc.defaultView.addEventListener("keydown", (event) => {
    if (event.key !== "ArrowLeft" && event.key !== "ArrowRight") return;
    if (event.altKey || event.ctrlKey || event.metaKey || event.shiftKey) return;
    const nav = doc.querySelector(".st-key-talk_nav");
    if (!nav) return;  // not on a talk page
    const active = doc.activeElement;
    const typing = active && (active.isContentEditable || active.tagName === "TEXTAREA" ||
      (active.tagName === "INPUT" && !["range", "button", "checkbox", "radio"].includes(active.type)));
    if (typing) return;
    const button = doc.querySelector(event.key === "ArrowLeft" ? ".st-key-talk_prev button" : ".st-key-talk_next button");
    event.preventDefault();
    event.stopImmediatePropagation();
    if (active && active.blur) active.blur();
    if (button && !button.disabled) button.click();
  }, true);
})();
</script>"""


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
        name: w.select_slider(slide.slider_label(name), f"talk_s{slide.number}_{name}", options, starts[name])
        for name, options in talks.slider_options(slide).items()
    }


@st.cache_data(max_entries=64, show_spinner=False)
def cached_spec(key: str, _slide, _live: dict):
    """The slide's projector-ready chart spec from the result cache (None when not cached), kept
    in memory so a revisited or prefetched slide shows at once. ``key`` names slide and values.
    Raises LookupError when the result is not cached (exceptions are not memoised)."""
    spec = talk_check.slide_spec(_slide, _live)
    if spec is None:
        raise LookupError(key)
    return spec


def slide_spec(slide, live: dict):
    """The slide's chart spec: from the cache, else computed live with a progress bar (the
    preflight warns about this); None after showing an error."""
    try:
        try:
            return cached_spec(talk_check.spec_key(slide, live), slide, live)
        except LookupError:
            pass
        notice = st.empty()  # in the chart's place, never over the bullets
        notice.caption("Not in the cache: computing live (`python -m engine talk precompute` fills it).")
        bar = st.progress(0.0)
        frame = engine.run(
            slide.experiment,
            talks.resolved_config(slide, live),
            preset=slide.preset,
            progress=lambda f, m: bar.progress(f, text=m),
        )
        bar.empty()
        notice.empty()
        return talk_check.spec_of(slide, frame)
    except ConfigError as err:
        st.error(str(err))
    except FloatingPointError as err:
        st.error(f"The run diverged: {err}")
    return None


def prefetch(slide) -> None:
    """Build the next slide's chart ahead of time (after this slide is on screen)."""
    if slide.experiment is not None and slide.number not in talk.pending:
        with contextlib.suppress(LookupError):  # not cached: the preflight says so; nothing to prefetch
            cached_spec(talk_check.spec_key(slide), slide, {})


st.html(STYLE)
st.html(KEYS, unsafe_allow_javascript=True)
names = [p.stem for p in talks.talk_files()]
if not names:
    st.error(f"No talk files in {talks.TALKS_DIR}: copy talks/example.toml there and edit it.")
    st.stop()
talk_name = st.query_params.get("talk", "example" if "example" in names else names[0])
if talk_name not in names:
    with st.container(key="talk_head"):
        st.title("No such talk")
    st.warning(
        f"There is no talk named {talk_name[:80]!r} in `{talks.TALKS_DIR.name}/`. The talks that exist:",
        icon=":material/slideshow:",
    )
    st.markdown("\n".join(f"- [{n}](/talk?talk={n}&slide=1)" for n in names))
    st.stop()
try:
    talk = talks.load_talk(talks.TALKS_DIR / f"{talk_name}.toml")
except talks.TalkError as err:
    st.error(str(err))
    st.stop()
raw_slide = st.query_params.get("slide", "1")
try:
    asked = int(raw_slide)
except ValueError:
    asked = None
slide = talk.slide(asked if asked is not None else 1)
number = slide.number
if asked != number:
    with st.container(key="talk_notice"):
        st.caption(
            f"Slide {raw_slide[:20]!r} does not exist in this talk ({len(talk.slides)} slides); "
            f"showing slide {number}."
        )
if st.query_params.get("slide") != str(number) or st.query_params.get("talk") != talk_name:
    st.query_params.update(talk=talk_name, slide=str(number))

with st.container(key="talk_head"):
    st.title(slide.title, anchor=False)
    if slide.experiment is None and number == 1 and (talk.author or talk.date):
        st.subheader(" · ".join(x for x in (talk.author, talk.date) if x), anchor=False)
with st.container(key="talk_body"):
    if slide.experiment is None:
        bullets(slide.bullets)
    elif slide.number in talk.pending:
        st.info(f"This slide shows {slide.experiment}, but {talk.pending[slide.number]}.")
        bullets(slide.bullets)
    else:
        chart_col, text_col = (
            st.columns([3, 2], gap="large") if slide.bullets or slide.sliders else (st.container(), None)
        )
        with text_col or chart_col, st.container(key="talk_text"):
            bullets(slide.bullets)
            live = live_sliders(slide)
        with chart_col, st.container(key="talk_chart", height="stretch"):
            spec = slide_spec(slide, live)
            if spec is not None:  # drawn at the slide's design size and scaled to its box, type included
                svg = talk_check.slide_svg(
                    spec
                )  # inline (st.html would strip the SVG), one line, no blank lines
                st.markdown(f"<div class='talk-svg'>{svg}</div>", unsafe_allow_html=True)

slider_keys = [k for k in st.session_state if str(k).startswith("talk_s")]
with st.container(key="talk_nav"):
    prev_col, count_col, next_col, notes_col, exit_col = st.columns(
        [1, 2, 1, 1, 1], vertical_alignment="center"
    )
    prev_col.button(
        "Previous",
        key="talk_prev",
        shortcut="Left",
        disabled=number == 1,
        on_click=go,
        args=(talk_name, number - 1, slider_keys),
        width="stretch",
    )
    count_col.markdown(
        f"<div class='talk-count'>{number} / {len(talk.slides)} · {talk.title}</div>", unsafe_allow_html=True
    )
    next_col.button(
        "Next",
        key="talk_next",
        shortcut="Right",
        disabled=number == len(talk.slides),
        on_click=go,
        args=(talk_name, number + 1, slider_keys),
        width="stretch",
    )
    if slide.notes:
        with notes_col.popover("Speaker notes", width="stretch"):
            st.markdown(slide.notes)
    exit_col.page_link(
        st.Page(home_page, title="Home", url_path="home", default=True),
        label="Exit talk",
        icon=":material/close:",
    )
if number < len(talk.slides):
    prefetch(talk.slide(number + 1))
