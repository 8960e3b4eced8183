"""Read an Altair chart's spec as a reader would: its layers with their mark, encodings and data.

Chart tests assert named encodings and the data behind them through these helpers, never layer
counts, layer positions or substrings of the serialised spec.
"""

from __future__ import annotations

from typing import Any


def layers(chart: Any) -> list[dict]:
    """Every leaf view of a chart (layers, facets, concatenations flattened), each as
    ``{"mark": str, "encoding": dict, "rows": list[dict]}`` with its data resolved."""
    spec = chart.to_dict() if hasattr(chart, "to_dict") else chart
    datasets = spec.get("datasets", {})
    out: list[dict] = []

    def walk(node: dict, inherited_data: Any) -> None:
        data = node.get("data", inherited_data)
        for key in ("layer", "hconcat", "vconcat", "concat"):
            for child in node.get(key, []):
                walk(child, data)
        if "spec" in node:
            walk(node["spec"], data)
        if "mark" in node:
            mark = node["mark"]
            rows = datasets.get(data.get("name"), data.get("values", [])) if isinstance(data, dict) else []
            out.append(
                {
                    "mark": mark["type"] if isinstance(mark, dict) else mark,
                    "mark_props": mark if isinstance(mark, dict) else {},
                    "encoding": node.get("encoding", {}),
                    "rows": rows,
                }
            )

    walk(spec, spec.get("data"))
    return out


def layer_with(
    chart: Any, *, mark: str | None = None, field: str | None = None, channel: str | None = None
) -> dict:
    """The one leaf view drawn with ``mark`` that encodes ``field`` (on ``channel`` if given)."""
    found = [
        view
        for view in layers(chart)
        if (mark is None or view["mark"] == mark)
        and (
            field is None
            or any(
                (channel is None or ch == channel) and isinstance(enc, dict) and enc.get("field") == field
                for ch, enc in view["encoding"].items()
            )
        )
    ]
    assert len(found) == 1, f"expected one {mark or 'any'} view encoding {field!r}; found {len(found)}"
    return found[0]


def has_view(chart: Any, *, mark: str | None = None, field: str | None = None) -> bool:
    """Whether some leaf view is drawn with ``mark`` and encodes ``field``."""
    return any(
        (mark is None or view["mark"] == mark)
        and (
            field is None
            or any(isinstance(e, dict) and e.get("field") == field for e in view["encoding"].values())
        )
        for view in layers(chart)
    )
