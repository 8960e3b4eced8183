"""``python -m engine``: list, run, precompute, status, export, import, clear, data, figure, report, talk.

Every user error (unknown experiment or field, a value out of range, a bad bundle) exits with
status 2 and one line on stderr; nothing is half-written.
"""

from __future__ import annotations

import argparse
import sys

from engine import bundle

from engine.core import cache
from engine.core.devices import DEVICE_CHOICES, resolve_device
from engine.core.experiment import config_from_dict, config_to_dict, parse_field_value
from engine.core.runner import experiments, get_experiment, run
from engine.core.validation import ConfigError

def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except (ConfigError, bundle.BundleError, ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished results are in the cache; rerun to resume.", file=sys.stderr)
        return 130


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
    p.set_defaults(handler=cmd_import)

    p = sub.add_parser("clear", help="delete cached results (of one experiment, or all)")
    p.add_argument("name", nargs="?")
    p.set_defaults(handler=cmd_clear)

    p = sub.add_parser("data", help="download MNIST or CIFAR-10 (needs internet)")
    p.add_argument("dataset", choices=("mnist", "cifar10"))
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
    return parser


def cmd_list(args) -> int:
    for name, exp in sorted(experiments().items()):
        print(f"{name}  (version {exp.version}, presets: {', '.join(exp.presets)})  {exp.title}")
        for field, value in config_to_dict(exp.presets["quick"]).items():
            print(f"    {field} = {value}")
    return 0


def parse_overrides(name: str, pairs: list[str]) -> dict:
    """``["k=6", "lr=0.01"]`` -> typed dict for ``name``'s config class."""
    exp = get_experiment(name)
    values = {}
    for pair in pairs:
        if "=" not in pair:
            raise ConfigError(f"--set takes FIELD=VALUE; got {pair!r}.")
        field, text = pair.split("=", 1)
        values[field.strip()] = parse_field_value(exp.config_cls, field.strip(), text.strip())
    return values


def cmd_run(args) -> int:
    overrides = parse_overrides(args.name, args.overrides)
    exp = get_experiment(args.name)
    exp.grid(args.preset)  # validates the preset name
    config = config_from_dict(exp.config_cls, overrides, base=exp.presets[args.preset])
    frame = run(args.name, config, device=args.device, use_cache=not args.no_cache,
                progress=_progress_printer(args.name))
    print(f"{args.name}: {len(frame)} rows ({frame.attrs['cache']}, {frame.attrs.get('seconds')} s to compute)",
          file=sys.stderr)
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
    matches = sorted(n for n in registry if n.split(".", 1)[0] == name)
    if not matches:
        get_experiment(name)  # raises the clear message
    return matches


def cmd_precompute(args) -> int:
    from tqdm import tqdm

    from engine.sweep import precompute

    device = resolve_device(args.device)
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

        summary = precompute(name, args.preset, jobs=args.jobs, backend=args.backend,
                             scheduler=args.scheduler, device=device, on_result=progress)
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
            cached = sum(cache.is_cached(name, exp.version, config_to_dict(c)) for c in grid)
            presets.append(f"{preset} {cached}/{len(grid)}")
        stale = len(records) - len(current)
        extra = f", {stale} of older versions (never served)" if stale else ""
        size = cache.folder_bytes(name) / 1e6
        print(f"{name:32s} {len(current):4d} results, {size:8.2f} MB, {'; '.join(presets)}{extra}")
    return 0


def cmd_export(args) -> int:
    count = bundle.export_bundle(args.file, args.only, args.preset)
    print(f"exported {count} results to {args.file}")
    return 0


def cmd_import(args) -> int:
    count = bundle.import_bundle(args.file)
    print(f"imported {count} results into {cache.cache_dir()}")
    return 0


def cmd_clear(args) -> int:
    if args.name:
        get_experiment(args.name)
    cleared = cache.clear(args.name)
    print(f"cleared {', '.join(cleared) if cleared else 'nothing'}")
    return 0


def cmd_data(args) -> int:
    from engine.core.data import data_dir, torchvision_images

    for train in (True, False):
        images, _ = torchvision_images(args.dataset, train=train, download=True)
        print(f"{args.dataset} {'train' if train else 'test'}: {len(images)} images in {data_dir()}")
    return 0


def cmd_figure(args) -> int:
    from engine.present.figures import export_figure

    overrides = parse_overrides(args.name, args.overrides)
    frame = export_figure(args.name, args.out, chart=args.chart, preset=args.preset, overrides=overrides,
                          cached_only=args.cached_only, device=args.device,
                          progress=_progress_printer(args.name))
    print(f"wrote {args.out} ({args.name} [{args.preset}], {frame.attrs['cache']})", file=sys.stderr)
    return 0


def cmd_report(args) -> int:
    from engine.present.report import build_report

    summary = build_report(args.out, cached_only=args.cached_only, device=resolve_device(args.device),
                           progress=_progress_printer("report"))
    print(f"wrote {summary.markdown} and {summary.html}: {summary.claims} claims, "
          f"{len(summary.figures)} figure files, {len(summary.missing)} results not available "
          f"({summary.seconds:.1f} s)", file=sys.stderr)
    return 0


def cmd_talk_check(args) -> int:
    from engine.present.talk import load_talk, preflight

    result = preflight(load_talk(args.file))
    print("\n".join(result.lines(args.file)))
    return 0 if result.ok else 1


def cmd_talk_precompute(args) -> int:
    from engine.present.talk import load_talk, precompute_talk

    talk = load_talk(args.file)
    for number, why in talk.pending.items():
        print(f"slide {number} skipped: {why}", file=sys.stderr)

    def progress(name: str, done: int, total: int) -> None:
        print(f"{name}: {done}/{total}", file=sys.stderr)

    failures = precompute_talk(talk, sliders=not args.no_sliders, jobs=args.jobs,
                               device=resolve_device(args.device), on_result=progress)
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
