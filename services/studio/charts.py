"""ECharts options (plain JSON) for the Studio's charts; the browser only hands them to ``echarts``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

PALETTE = ["#2563eb", "#db2777", "#059669", "#d97706", "#7c3aed", "#0891b2", "#dc2626", "#4b5563"]


def bars(categories: Sequence[Any], series: Sequence[tuple[str, Sequence[float]]], *, x_name: str = "",
         y_name: str = "", stack: bool = False) -> dict[str, Any]:
    """Grouped (or stacked) bars of ``series`` over ``categories``."""
    return {
        "color": PALETTE, "tooltip": {"trigger": "axis"}, "legend": {"top": 0, "type": "scroll"},
        "grid": {"top": 40, "left": 56, "right": 16, "bottom": 40},
        "xAxis": {"type": "category", "name": x_name, "nameLocation": "middle", "nameGap": 26,
                  "data": [str(c) for c in categories]},
        "yAxis": {"type": "value", "name": y_name},
        "series": [{"name": name, "type": "bar", "data": list(values), **({"stack": "all"} if stack else {})}
                   for name, values in series],
    }


def lines(series: Sequence[tuple[str, Sequence[Sequence[float]]]], *, x_name: str = "step",
          y_name: str = "loss") -> dict[str, Any]:
    """One line per (name, [[x, y], ...]) series."""
    return {
        "color": PALETTE, "tooltip": {"trigger": "axis"}, "legend": {"top": 0, "type": "scroll"},
        "grid": {"top": 40, "left": 56, "right": 16, "bottom": 40},
        "xAxis": {"type": "value", "name": x_name, "nameLocation": "middle", "nameGap": 26},
        "yAxis": {"type": "value", "name": y_name, "scale": True},
        "series": [{"name": name, "type": "line", "showSymbol": len(points) < 40, "data": [list(p) for p in points]}
                   for name, points in series],
    }


def heatmap(x: Sequence[str], y: Sequence[str], data: Sequence[Sequence[float]]) -> dict[str, Any]:
    """Failure rate per (relation type, concept): ``data`` rows are [x index, y index, rate, items, wrong]."""
    return {
        "tooltip": {"position": "top"},
        "grid": {"top": 16, "left": 180, "right": 24, "bottom": 90},
        "xAxis": {"type": "category", "data": list(x), "axisLabel": {"rotate": 35}, "splitArea": {"show": True}},
        "yAxis": {"type": "category", "data": list(y), "splitArea": {"show": True},
                  "axisLabel": {"width": 170, "overflow": "truncate"}},
        "visualMap": {"min": 0, "max": 1, "calculable": True, "orient": "horizontal", "left": "center", "bottom": 0,
                      "inRange": {"color": ["#f0fdf4", "#fde68a", "#f97316", "#b91c1c"]}},
        "series": [{"name": "failure rate", "type": "heatmap", "data": [list(d[:3]) for d in data],
                    "label": {"show": True}, "emphasis": {"itemStyle": {"borderColor": "#111", "borderWidth": 1}}}],
    }
