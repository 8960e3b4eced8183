"""``python -m engine``: list, run, precompute, status, export, import, clear, data, figure, report, talk.

Every user error (unknown experiment or field, a value out of range, a run too big for this
machine's memory, a bad path or bundle) exits with status 2 and one line on stderr, checked before
any compute; a run that fails inside (out of memory, a device error) exits with status 1 and one
line. Messages quote at most ~80 characters of any input; nothing is half-written.
"""

from __future__ import annotations

import argparse
import os
import sys

from engine import bundle
from engine.core import cache
from engine.core.devices import DEVICE_CHOICES, resolve_device
from engine.core.experiment import config_from_dict, parse_field_value
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

    p = sub.add_parser("list", help="experiments, presets and config fields")
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
        help="recompute N random quick-scale entries and compare before importing",
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

    p = sub.add_parser("figure", help="write one chart as PNG or SVG, or its data as CSV")
    p.add_argument("name")
    p.add_argument("--preset", default="quick")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="FIELD=VALUE")
    p.add_argument("--chart", help="which chart (default: the experiment's first)")
    p.add_argument("--out", required=True, help="file.png, file.svg or file.csv")
    p.add_argument("--cached-only", action="store_true", help="fail instead of computing")
    p.add_argument("--device", default="auto", choices=DEVICE_CHOICES)
    p.set_defaults(handler=cmd_figure)

    p = sub.add_parser("report", help="write the reproducibility report (Markdown, HTML, figures)")
    p.add_argument("--out", required=True, help="folder to write report.md, report.html, figures/")
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
    for name, exp in sorted(experiments().items()):
        print(f"{name}  (version {exp.version}, presets: {', '.join(exp.presets)})  {exp.title}")
        quick = exp.presets["quick"]
        for field, _default, allowed in describe_fields(exp.config_cls):
            print(f"    {field} = {getattr(quick, field)!r}  ({allowed})")
    return 0


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
        records = [r for r in cache.index_records(name) if cache.is_cached(name, r["version"], r["config"])]
        current = [r for r in records if r["version"] == exp.version]
        presets = []
        for preset in exp.presets:
            grid = exp.grid(preset)
            cached = sum(cache.is_cached(name, exp.version, canonical_values(c)) for c in grid)
            presets.append(f"{preset} {cached}/{len(grid)}")
        stale = len(records) - len(current)
        extra = f", {stale} of older versions (never served)" if stale else ""
        size = cache.folder_bytes(name) / 1e6
        print(f"{name:32s} {len(current):4d} results, {size:8.2f} MB, {'; '.join(presets)}{extra}")
    return 0


def cmd_export(args) -> int:
    bundle.check_output_file(args.file)
    for name in args.only or []:
        _experiment(name)
    count = bundle.export_bundle(args.file, args.only, args.preset)
    print(f"exported {count} results to {args.file}")
    return 0


def cmd_import(args) -> int:
    if args.verify < 0:
        raise ConfigError(f"The 'verify' parameter must be an int >= 0. Got {args.verify} instead.")
    result = bundle.import_report(args.file, verify=args.verify)
    print("\n".join(result.lines(str(cache.cache_dir()))))
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
    from engine.present.figures import export_figure

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
    )
    print(f"wrote {args.out} ({args.name} [{args.preset}], {frame.attrs['cache']})", file=sys.stderr)
    return 0


def cmd_report(args) -> int:
    from engine.present.report import build_report

    summary = build_report(
        args.out,
        cached_only=args.cached_only,
        device=resolve_device(args.device),
        progress=_progress_printer("report"),
    )
    print(
        f"wrote {summary.markdown} and {summary.html}: {summary.claims} claims, "
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


def _progress_printer(name: str):
    state = {"last": -1}

    def progress(fraction: float, message: str) -> None:
        percent = int(fraction * 100)
        if percent // 10 != state["last"] // 10:
            state["last"] = percent
            print(f"{name}: {percent:3d}% {message}", file=sys.stderr)

    return progress
