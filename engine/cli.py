"""``python -m engine``: list, run, precompute, status, export, import, clear, data, figure, report, talk.

Every user error (unknown experiment or field, a value out of range, a run too big for this
machine's memory, a bad path or bundle) exits with status 2 and one line on stderr, checked before
any compute; a run that fails inside (out of memory, a device error) exits with status 1 and one
line. Messages quote at most ~80 characters of any input; nothing is half-written.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path

from engine import bundle
from engine.core import cache
from engine.core.devices import DEVICE_CHOICES, resolve_device
from engine.core.experiment import config_from_dict, parse_field_value
from engine.core.fingerprint import is_current
from engine.core.params import constraint_of, describe_fields
from engine.core.runner import RunError, canonical_values, experiments, get_experiment, run
from engine.core.validation import ConfigError, short_repr

MAX_MESSAGE = 400  # characters of one error line


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except (ConfigError, bundle.BundleError, ValueError, OSError) as err:
        print(f"error: {_one_line(err)}", file=sys.stderr)
        return 2
    except RunError as err:
        print(f"error: {_one_line(err)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: finished results are in the cache; rerun to resume.", file=sys.stderr)
        return 130


def _one_line(err: BaseException) -> str:
    """An error as one line of at most MAX_MESSAGE characters."""
    text = " ".join(str(err).split()) or type(err).__name__
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 3] + "..."


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m engine", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", help="experiments: config fields, presets, charts and claims")
    p.add_argument("name", nargs="?", help="a phenomenon (e.g. smoothing) or one experiment; default: all")
    p.set_defaults(handler=cmd_list)

    p = sub.add_parser("run", help="run one config and print or save its frame")
    p.add_argument("name")
    p.add_argument("--preset", default="quick")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="FIELD=VALUE")
    p.add_argument("--device", default="auto", choices=DEVICE_CHOICES)
    p.add_argument("--out", help="write the frame to this CSV file")
    p.add_argument("--no-cache", action="store_true", help="compute without reading or writing the cache")
    p.set_defaults(handler=cmd_run)

    p = sub.add_parser("precompute", help="fill the cache with a preset's grid")
    p.add_argument("name", help="an experiment, a phenomenon (e.g. linear_ae) or 'all'")
    p.add_argument("--preset", default="quick")
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--backend", default="loky", choices=("loky", "threading", "sequential", "dask"))
    p.add_argument("--scheduler", help="dask scheduler address, e.g. tcp://HOST:8786")
    p.add_argument("--device", default="auto", choices=DEVICE_CHOICES)
    p.set_defaults(handler=cmd_precompute)

    p = sub.add_parser("status", help="what is cached, per experiment and preset")
    p.set_defaults(handler=cmd_status)

    p = sub.add_parser("export", help="write the cache to one portable bundle file")
    p.add_argument("file")
    p.add_argument("--only", action="append", help="limit to these experiments")
    p.add_argument("--preset", help="only the configs of this preset (e.g. paper)")
    p.set_defaults(handler=cmd_export)

    p = sub.add_parser("import", help="verify a bundle and add its results to the cache")
    p.add_argument("file")
    p.add_argument(
        "--verify",
        type=int,
        default=0,
        metavar="N",
        help="recompute up to N entries cheap enough to recompute here (one per scale first) and "
        "compare before importing; the rest are listed as not verified",
    )
    p.set_defaults(handler=cmd_import)

    p = sub.add_parser("clear", help="delete cached results (of one experiment, or all)")
    p.add_argument("name", nargs="?")
    p.set_defaults(handler=cmd_clear)

    p = sub.add_parser(
        "data", help="list the image data sets present here; NAME: download it (needs internet)"
    )
    p.add_argument("dataset", nargs="?", choices=("mnist", "fashion_mnist", "cifar10"))
    p.set_defaults(handler=cmd_data)

    p = sub.add_parser(
        "figure", help="write charts as PNG, SVG or PDF (a report column by default), or the data as CSV"
    )
    p.add_argument("name", help="an experiment; with --all also a phenomenon or 'all'")
    p.add_argument("--preset", default="quick")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="FIELD=VALUE")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--chart", help="which chart (default: the experiment's first; `list` names them)")
    which.add_argument(
        "--all", action="store_true", help="every chart of every experiment named, into --out DIR"
    )
    p.add_argument("--out", required=True, help="file.png|svg|pdf|csv, or a folder with --all")
    p.add_argument("--format", choices=("png", "svg", "pdf", "csv"), help="with --all (default pdf)")
    p.add_argument("--width", type=float, default=6.5, help="inches (default 6.5: a report column)")
    p.add_argument("--height", type=float, default=4.0, help="inches (default 4)")
    p.add_argument("--dpi", type=float, default=300.0, help="PNG dots per inch (default 300)")
    p.add_argument("--font-size", type=float, default=9.0, help="tick labels in points (default 9)")
    p.add_argument("--cached-only", action="store_true", help="fail instead of computing")
    p.add_argument("--device", default="auto", choices=DEVICE_CHOICES)
    p.set_defaults(handler=cmd_figure)

    p = sub.add_parser("report", help="write the reproducibility report (Markdown, HTML, LaTeX, figures)")
    p.add_argument("--out", required=True, help="folder for report.md, report.html, report.tex, figures/")
    p.add_argument("--only", action="append", metavar="PHENOMENON", help="only this phenomenon (repeatable)")
    p.add_argument("--cached-only", action="store_true", help="do not compute missing quick results")
    p.add_argument("--device", default="auto", choices=DEVICE_CHOICES)
    p.set_defaults(handler=cmd_report)

    p = sub.add_parser("talk", help="check or precompute a talk file (talks/*.toml)")
    talk_sub = p.add_subparsers(dest="talk_command", required=True)
    q = talk_sub.add_parser("check", help="preflight: every slide cached and rendering; never computes")
    q.add_argument("file")
    q.set_defaults(handler=cmd_talk_check)
    q = talk_sub.add_parser("precompute", help="fill the cache with every slide and slider position")
    q.add_argument("file")
    q.add_argument("--no-sliders", action="store_true", help="only the slides, not live slider positions")
    q.add_argument("--jobs", type=int, default=1)
    q.add_argument("--device", default="auto", choices=DEVICE_CHOICES)
    q.set_defaults(handler=cmd_talk_precompute)
    p = sub.add_parser(
        "new", help="create a new phenomenon (package, page, test file) from a working skeleton"
    )
    p.add_argument("name", help="lower-case identifier, e.g. grokking")
    p.add_argument("--title", default="", help="short title shown in the navigation")
    p.add_argument("--paper", default="", help="authors: title (venue year)")
    p.set_defaults(handler=cmd_new)
    return parser


def cmd_new(args) -> int:
    from engine.scaffold import REPO_ROOT, create

    for path in create(args.name, args.title, args.paper):
        print(f"created {path.relative_to(REPO_ROOT)}")
    print(
        f"next: edit engine/phenomena/{args.name}/science.py, then `make test` (the skeleton passes as generated)"
    )
    return 0


def cmd_list(args) -> int:
    names = _expand(args.name) if args.name else sorted(experiments())
    if args.name and "." not in args.name and args.name != "all":
        from engine.core.registry import phenomena

        for p in phenomena():
            if p.name == args.name:
                print(
                    f"{p.name}: {p.title}. {p.paper}\n  {p.summary}\n  page: /{p.name} (pages/{p.name}.py)\n"
                )
    for name in names:
        print("\n".join(describe_experiment(get_experiment(name))))
    return 0


def describe_experiment(exp) -> list[str]:
    """What ``list`` prints for one experiment: its presets (what each sets apart from the quick
    defaults, and how many configs ``precompute`` fills), charts, claims, then every field with its
    quick value and what is allowed."""
    lines = [f"{exp.name}  (version {exp.version}, presets: {', '.join(exp.presets)})  {exp.title}"]
    quick = exp.presets.get("quick")
    fields = describe_fields(exp.config_cls)
    for preset, config in exp.presets.items():
        differs = [
            f"{f}={short_repr(getattr(config, f), 40)}"
            for f, _, _ in fields
            if quick is not None and getattr(config, f) != getattr(quick, f)
        ]
        sets = ", ".join(differs) if preset != "quick" else "the field values below"
        count = len(exp.grid(preset))
        lines.append(
            f"  preset {preset}: {sets or 'the same values'}; precompute fills "
            f"{count} config{'s' if count != 1 else ''}"
        )
    lines.append(
        f"  charts: {', '.join(exp.charts)}  (python -m engine figure {exp.name} --chart NAME --out fig.png)"
    )
    if exp.claims:
        lines.append(f"  claims: {', '.join(c.id for c in exp.claims)}")
    shown = quick if quick is not None else next(iter(exp.presets.values()))
    lines.append("  fields (quick value, allowed):")
    lines += [f"    {f} = {getattr(shown, f)!r}  ({allowed})" for f, _, allowed in fields]
    return lines


def _experiment(name: str):
    """get_experiment, quoting at most 80 characters of a bad name."""
    if len(name) > 80:
        raise ConfigError(f"Unknown experiment {short_repr(name)}; run 'python -m engine list'.")
    return get_experiment(name)


def parse_overrides(name: str, pairs: list[str]) -> dict:
    """``["k=6", "lr=0.01"]`` -> typed dict for ``name``'s config class; a field given twice is an error."""
    exp = _experiment(name)
    values = {}
    for pair in pairs:
        if "=" not in pair:
            raise ConfigError(f"--set takes FIELD=VALUE; got {short_repr(pair)}.")
        field, text = (part.strip() for part in pair.split("=", 1))
        if field in values:
            raise ConfigError(f"--set {short_repr(field)} is given twice; give each field once.")
        try:
            values[field] = parse_field_value(exp.config_cls, field, text)
        except ConfigError as err:
            if len(field) > 80 or "has no parameter" in str(err):
                names = ", ".join(exp.config_cls.__dataclass_fields__)
                raise ConfigError(
                    f"{exp.config_cls.__name__} has no parameter {short_repr(field)}; allowed: {names}."
                ) from None
            declared = constraint_of(exp.config_cls, field)
            kind = (
                declared.describe() if declared else str(err).split(" must be ", 1)[-1].split(". Got ", 1)[0]
            )
            raise ConfigError(
                f"The '{field}' parameter of {exp.config_cls.__name__} must be {kind}. "
                f"Got {short_repr(text)} instead."
            ) from None
    return values


def check_out_file(path: str | None) -> None:
    """Refuse, before any compute, an output path that is a folder or lies in a missing folder."""
    if path is not None:
        bundle.check_output_file(path, what="output")


def cap_jobs(jobs: int) -> int:
    """``jobs`` in [1, cores]: below 1 is an error; above the core count is capped with a note."""
    cores = os.cpu_count() or 1
    if jobs < 1:
        raise ConfigError(
            f"The 'jobs' parameter must be an int in [1, {cores}]. Got {short_repr(jobs)} instead."
        )
    if jobs > cores:
        print(f"note: --jobs {jobs} capped at this machine's {cores} cores", file=sys.stderr)
        return cores
    return jobs


def cmd_run(args) -> int:
    overrides = parse_overrides(args.name, args.overrides)
    check_out_file(args.out)
    exp = get_experiment(args.name)
    exp.grid(args.preset)  # validates the preset name
    config = config_from_dict(exp.config_cls, overrides, base=exp.presets[args.preset])
    frame = run(
        args.name,
        config,
        device=args.device,
        use_cache=not args.no_cache,
        progress=_progress_printer(args.name),
    )
    print(
        f"{args.name}: {len(frame)} rows ({frame.attrs['cache']}, {frame.attrs.get('seconds')} s to compute)",
        file=sys.stderr,
    )
    _print_cache_notice(args.name, frame)
    if args.out:
        frame.to_csv(args.out, index=False)
        print(f"wrote {args.out}", file=sys.stderr)
    else:
        print(frame.to_string(max_rows=40))
    return 0


def _expand(name: str) -> list[str]:
    registry = experiments()
    if name == "all":
        return sorted(registry)
    if name in registry:
        return [name]
    if len(name) > 80:
        _experiment(name)
    matches = sorted(n for n in registry if n.split(".", 1)[0] == name)
    if not matches:
        get_experiment(name)  # raises the clear message
    return matches


def cmd_precompute(args) -> int:
    from tqdm import tqdm

    from engine.sweep import precompute

    device = resolve_device(args.device)
    jobs = cap_jobs(args.jobs)
    names = _expand(args.name)
    if not any(args.preset in get_experiment(n).presets for n in names):
        get_experiment(names[0]).grid(args.preset)  # raises the clear message
    failed = 0
    for name in names:
        exp = get_experiment(name)
        if args.preset not in exp.presets:
            print(f"{name}: no {args.preset!r} preset, skipped", file=sys.stderr)
            continue
        bar = tqdm(desc=f"{name} [{args.preset}]", unit="config", file=sys.stderr)

        def progress(done: int, total: int, bar=bar) -> None:
            bar.total = total
            bar.n = done
            bar.refresh()

        try:
            summary = precompute(
                name,
                args.preset,
                jobs=jobs,
                backend=args.backend,
                scheduler=args.scheduler,
                device=device,
                on_result=progress,
            )
        finally:
            bar.close()
        print(f"{name} [{args.preset}]: {summary.line()}", file=sys.stderr)
        for config, error in summary.failures:
            print(f"  failed {config}: {error}", file=sys.stderr)
        failed += len(summary.failures)
    return 1 if failed else 0


def cmd_status(args) -> int:
    print(f"cache: {cache.cache_dir()}")
    for name, exp in sorted(experiments().items()):
        indexed = cache.index_records(name)
        records = [r for r in indexed if cache.is_cached(name, r["version"], r["config"])]
        current = [r for r in records if r["version"] == exp.version]
        other_code = sum(r["version"] == exp.version and not is_current(name, r.get("meta")) for r in indexed)
        presets = []
        for preset in exp.presets:
            grid = exp.grid(preset)
            cached = sum(cache.is_cached(name, exp.version, canonical_values(c)) for c in grid)
            presets.append(f"{preset} {cached}/{len(grid)}")
        stale = len(records) - len(current)
        extra = f", {stale} of older versions (never served)" if stale else ""
        extra += f", {other_code} computed by other code (recomputed when used)" if other_code else ""
        size = cache.folder_bytes(name) / 1e6
        print(f"{name:32s} {len(current):4d} results, {size:8.2f} MB, {'; '.join(presets)}{extra}")
    return 0


def cmd_export(args) -> int:
    bundle.check_output_file(args.file)
    for name in args.only or []:
        _experiment(name)
    bundle.check_preset(args.only, args.preset)
    count = bundle.export_bundle(args.file, args.only, args.preset)
    print(f"exported {count} results to {args.file}")
    return 0


def cmd_import(args) -> int:
    if args.verify < 0:
        raise ConfigError(f"The 'verify' parameter must be an int >= 0. Got {args.verify} instead.")
    try:
        result = bundle.import_report(args.file, verify=args.verify)
    except KeyboardInterrupt:
        print("interrupted: nothing was imported; the cache is as it was.", file=sys.stderr)
        return 130
    print("\n".join(result.lines(str(cache.cache_dir()))))
    if result.interrupted:
        print("interrupted: the import was already committed, so it was completed.", file=sys.stderr)
        return 130
    return 0


def cmd_clear(args) -> int:
    if args.name:
        _experiment(args.name)
    cleared, skipped = cache.clear_report(args.name)
    print(f"cleared {', '.join(cleared) if cleared else 'nothing'}")
    for name in skipped:
        print(
            f"left {short_repr(name)} alone: it has no {cache.MARKER} file (the lab did not write it)",
            file=sys.stderr,
        )
    return 0


def cmd_data(args) -> int:
    from engine.core import data

    if args.dataset is None:
        for entry in data.availability():
            state = "present" if entry.present else "absent "
            print(f"{entry.name:<14} {state}  {entry.source}\n{'':<24}{entry.note}")
        return 0
    try:
        print(data.download(args.dataset))
    except data.DataUnavailable as err:
        print(f"error: {_one_line(err)}", file=sys.stderr)
        return 1
    return 0


def cmd_figure(args) -> int:
    from engine.present.figures import FileSize, export_all, export_figure

    size = FileSize(args.width, args.height, dpi=args.dpi, font_pt=args.font_size)
    if args.all:
        if args.overrides:
            raise ConfigError(
                "The 'set' parameter cannot be used with --all (each experiment uses its preset)."
            )
        names = _expand(args.name)
        folder = Path(args.out)
        if folder.exists() and not folder.is_dir():
            raise ConfigError(
                f"The 'out' parameter must be a folder with --all. Got {str(folder)[:80]!r} instead."
            )
        with _progress_bar("figures") as progress:
            written = export_all(
                names,
                folder,
                args.format or "pdf",
                preset=args.preset,
                cached_only=args.cached_only,
                device=args.device,
                size=size,
                progress=progress,
            )
        print(f"wrote {len(written)} files into {folder}", file=sys.stderr)
        return 0
    if args.format and Path(args.out).suffix.lower().lstrip(".") != args.format:
        raise ConfigError(
            f"The 'format' parameter must match the suffix of --out ({Path(args.out).suffix or 'none'}). "
            f"Got {args.format!r} instead."
        )
    overrides = parse_overrides(args.name, args.overrides)
    check_out_file(args.out)
    frame = export_figure(
        args.name,
        args.out,
        chart=args.chart,
        preset=args.preset,
        overrides=overrides,
        cached_only=args.cached_only,
        device=args.device,
        progress=_progress_printer(args.name),
        size=size,
    )
    print(f"wrote {args.out} ({args.name} [{args.preset}], {frame.attrs['cache']})", file=sys.stderr)
    _print_cache_notice(args.name, frame)
    return 0


def _print_cache_notice(name: str, frame) -> None:
    """One line when a computed result could not be stored (a full disk, a read-only cache)."""
    if frame.attrs.get("cache_notice"):
        print(f"note: {name}: computed but {frame.attrs['cache_notice']}", file=sys.stderr)


def cmd_report(args) -> int:
    from engine.present.report import build_report, check_only

    check_only(args.only)  # before any work
    with _progress_bar("report") as progress:
        summary = build_report(
            args.out,
            cached_only=args.cached_only,
            device=resolve_device(args.device),
            progress=progress,
            only=args.only,
        )
    print(
        f"wrote {summary.markdown}, {summary.html} and {summary.latex}: {summary.claims} claims, "
        f"{len(summary.figures)} figure files, {len(summary.missing)} results not available "
        f"({summary.seconds:.1f} s)",
        file=sys.stderr,
    )
    return 0


def cmd_talk_check(args) -> int:
    from engine.present.talk import load_talk
    from engine.present.talk_check import preflight

    result = preflight(load_talk(args.file))
    print("\n".join(result.lines(args.file)))
    return 0 if result.ok else 1


def cmd_talk_precompute(args) -> int:
    from engine.present.talk import load_talk
    from engine.present.talk_check import precompute_talk

    talk = load_talk(args.file)
    for number, why in talk.pending.items():
        print(f"slide {number} skipped: {why}", file=sys.stderr)

    def progress(name: str, done: int, total: int) -> None:
        print(f"{name}: {done}/{total}", file=sys.stderr)

    failures = precompute_talk(
        talk,
        sliders=not args.no_sliders,
        jobs=cap_jobs(args.jobs),
        device=resolve_device(args.device),
        on_result=progress,
    )
    for failure in failures:
        print(f"  failed {failure}", file=sys.stderr)
    return 1 if failures else 0


@contextlib.contextmanager
def _progress_bar(label: str):
    """A progress bar on stderr (tqdm) fed by ``progress(fraction, message)`` callbacks."""
    from tqdm import tqdm

    bar = tqdm(
        total=1000,
        desc=label,
        unit="‰",
        file=sys.stderr,
        bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed} {postfix}",
    )

    def progress(fraction: float, message: str) -> None:
        bar.n = int(max(0.0, min(1.0, fraction)) * 1000)
        bar.set_postfix_str(str(message)[:60], refresh=False)
        bar.refresh()

    try:
        yield progress
    finally:
        bar.close()


def _progress_printer(name: str):
    state = {"last": -1}

    def progress(fraction: float, message: str) -> None:
        percent = int(fraction * 100)
        if percent // 10 != state["last"] // 10:
            state["last"] = percent
            print(f"{name}: {percent:3d}% {message}", file=sys.stderr)

    return progress
