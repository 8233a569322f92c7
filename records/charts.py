"""Charts of metric values as SVG pictures, for the API's ``format=svg`` and the console.

pygal draws them: it is kept, maintained, escapes every label and needs no browser script.
What makes them readable is set here once: rates on an axis from 0 to 100%, the target drawn
as its own dashed line, legends below the plot and never truncated, text in the reader's
language with a font that has Chinese glyphs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from records.metrics import Measure, MetricValues

SCRIPT = re.compile(rb"<script\b.*?</script\s*>", re.DOTALL | re.IGNORECASE)
RATES = (Measure.share, Measure.availability)
SIGNS = {">=": "≥", ">": ">", "<=": "≤", "<": "<"}
FONTS = "'Noto Sans CJK SC', 'Noto Sans SC', 'Source Han Sans SC', 'PingFang SC', 'Microsoft YaHei', sans-serif"


@dataclass(frozen=True)
class ChartText:
    """The words a chart shows, in the reader's language."""

    title: str
    target: str = "target"
    total: str = "total"
    hours: str = "h"


def chart_text(values: MetricValues, language: str, title_zh: str | None) -> ChartText:
    """English, or Simplified Chinese (``zh``…) with the metric's Chinese title when it has one."""
    if language.lower().startswith("zh"):
        return ChartText(title=title_zh or values.title, target="目标", total="合计", hours="小时")
    return ChartText(title=values.title)


def _percent(value: float | None) -> str:
    return "" if value is None else f"{value:.1%}"


def metric_svg(values: MetricValues, text: ChartText | None = None, width: int = 800, height: int = 420) -> bytes:
    """A line chart of the series (or of the total when not grouped), with the target as a
    dashed line when there is one."""
    import pygal  # imported here: only charts need it
    from pygal.style import Style

    text = text or ChartText(title=values.title)
    rate = values.measure in RATES
    style = Style(font_family=FONTS, background="white", plot_background="white",
                  colors=("#1f5fa8", "#b3261e"), legend_font_size=14, title_font_size=18, label_font_size=12,
                  guide_stroke_color="#d9d9d9", major_guide_stroke_color="#bdbdbd", foreground_subtle="#d9d9d9")
    chart = pygal.Line(
        js=[], style=style, width=width, height=height, explicit_size=True, title=text.title,
        show_legend=True, legend_at_bottom=True, legend_at_bottom_columns=2, truncate_legend=-1, truncate_label=-1,
        x_label_rotation=30, print_values=False, disable_xml_declaration=False, show_dots=True, dots_size=3,
        include_x_axis=True, allow_interruptions=True, no_data_text="—",
    )
    series = values.values or [values.total.model_copy(update={"period": text.total})]
    chart.x_labels = [b.period or "" for b in series]
    if rate:
        chart.range = (0, 1)  # a rate is read against the whole scale, never a zoomed-in band
        chart.y_labels = [0, 0.25, 0.5, 0.75, 1]
        chart.value_formatter = _percent
    else:
        chart.value_formatter = lambda v: "" if v is None else f"{v:.1f} {text.hours}"
    chart.add(text.title, [b.value for b in series], stroke_style={"width": 3})
    if values.target is not None:
        shown = _percent(values.target.value) if rate else f"{values.target.value:g}"
        chart.add(f"{text.target} {SIGNS[values.target.comparison]} {shown}", [values.target.value] * len(series),
                  stroke_style={"width": 2, "dasharray": "6, 4"}, show_dots=False)
    # pygal inlines a <script> with its tooltip configuration even with js=[]: the chart is a
    # picture, served from our own origin under a CSP without scripts, so it goes.
    return SCRIPT.sub(b"", chart.render())


def _count_ticks(top: int) -> list[int]:
    """Whole-number ticks from 0 to at least ``top``, at most about eight: a count has no half files."""
    step = 1
    while top / step > 8:
        step = step * 5 // 2 if str(step)[0] == "2" else step * 2  # 1, 2, 5, 10, 20, 50…
    last = -(-top // step) * step
    return list(range(0, max(last, step) + 1, step))


def count_bars_svg(title: str, categories: list[str], series: list[tuple[str, list[int]]], empty: str = "—",
                   width: int = 800, height: int = 420) -> bytes:
    """Grouped bars of counts: one group per category (e.g. a horizon), one bar per series (e.g. a
    kind of file), on an axis from 0 with whole-number ticks; every label as given (already in the
    reader's language), legends below and never truncated."""
    import pygal  # imported here: only charts need it
    from pygal.style import Style

    style = Style(font_family=FONTS, background="white", plot_background="white",
                  colors=("#1f5fa8", "#b3261e", "#2e7d32", "#8e5b00", "#6a3d9a", "#00838f", "#5d4037", "#c2185b"),
                  legend_font_size=14, title_font_size=18, label_font_size=13, major_label_font_size=13,
                  value_font_size=12, guide_stroke_color="#d9d9d9", major_guide_stroke_color="#bdbdbd",
                  foreground_subtle="#d9d9d9")
    top = max((v for _, values in series for v in values), default=0)
    # As many legend columns as the longest label leaves room for (about 8 px a character; a CJK
    # character is wider but such labels are shorter): a label is never cut nor runs into the next.
    longest = max((len(label) * (14 if any(ord(c) > 0x2e80 for c in label) else 8) for label, _ in series), default=0)
    columns = max(1, min(len(series), 3, (width - 40) // (longest + 40)))
    rows = -(-len(series) // columns)
    chart = pygal.Bar(
        js=[], style=style, width=width, height=height + 26 * rows, explicit_size=True, title=title,
        show_legend=True, legend_at_bottom=True, legend_at_bottom_columns=columns, truncate_legend=-1,
        truncate_label=-1, print_values=True, print_values_position="top", disable_xml_declaration=False,
        include_x_axis=True, no_data_text=empty, margin_top=30,
        # pygal reserves floor(series / columns) legend rows; the last, partly filled row needs its own room
        margin_bottom=12 + (24 if series and len(series) % columns else 0),
    )
    chart.x_labels = categories
    if series:  # (without any, pygal draws ``empty`` and cannot place ticks)
        chart.range = (0, max(_count_ticks(top)))  # bars are read from 0, never from a zoomed-in band
        chart.y_labels = _count_ticks(top)
    chart.value_formatter = lambda v: "" if v is None else f"{v:.0f}"
    for label, values in series:
        chart.add(label, values)
    return SCRIPT.sub(b"", chart.render())
