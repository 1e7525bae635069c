"""The dashboard: one self-contained HTML file rendered from the warehouse marts.

Why hand-rendered HTML and SVG: the file has to open anywhere (a mail attachment, a
laptop offline, a CI artifact), so it carries no scripts, fonts, images or style sheets
from the network, and no JavaScript at all; charts are inline SVG drawn here. A
Content-Security-Policy that forbids scripts and remote loads makes that a promise the
browser enforces.

Why everything goes through ``_esc``: channels (``utm_source`` values are kept as is),
URLs and referrer hosts come straight from visitors' browsers, so any of them can be
``<script>...</script>``. They are escaped wherever they land: text, attributes, SVG.

The report reads only the contract marts (schema ``marts``), opening the warehouse
read-only, as any BI tool would.
"""

from __future__ import annotations

import html
import math
import os
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from ingest.errors import WebfunnelError, first_line
from ingest.marts_source import MartsSource, open_marts

__all__ = ["ReportError", "ReportSummary", "write_report"]

NO_DATA_TITLE = "No data yet — run `webfunnel run` first"

# The columns the report reads from each mart (a subset of the contract's columns).
MART_COLUMNS: dict[str, tuple[str, ...]] = {
    "visitors": (
        "cookie",
        "first_seen_at",
        "last_seen_at",
        "first_referrer_host",
        "first_channel",
        "person_id",
        "signed_up_at",
        "demo_at",
        "trial_at",
        "customer_at",
    ),
    "pageviews": ("event_id", "url_host", "referrer_host"),
    "sessions": ("session_id", "landing_url", "pageviews"),
    "funnel_daily": (
        "cohort_date",
        "first_channel",
        "device_class",
        "visitors",
        "signups",
        "demos",
        "trials",
        "customers",
    ),
    "channel_attribution": ("attribution_model", "channel", "conversion_stage", "conversions"),
    "retention_weekly": (
        "cohort_type",
        "cohort_week",
        "weeks_since",
        "cohort_size",
        "active",
        "retention_rate",
    ),
    "accounts": ("account_id", "logins", "current_plan", "plan_changes", "upgrades"),
    "traffic_hourly": ("hour", "channel_group", "device_class", "pageviews"),
}

STAGES = ("signup", "demo", "trial", "customer")
STAGE_COLUMNS = {
    "signup": "signed_up_at",
    "demo": "demo_at",
    "trial": "trial_at",
    "customer": "customer_at",
}
ALL = object()  # the key of the all-channels row of the funnel medians
KNOWN_MODELS = ("first_touch", "last_touch", "linear", "position_based", "time_decay")
PLAN_ORDER = ("free", "starter", "pro", "enterprise")
COHORT_TYPES = ("visitor", "user", "customer")

# Colours in the spirit of Google's charts; assigned to series by size, biggest first.
PALETTE = (
    "#1a73e8",
    "#e8710a",
    "#12b5cb",
    "#e52592",
    "#9334e6",
    "#7cb342",
    "#f9ab00",
    "#d93025",
    "#1e8e3e",
    "#5f6368",
    "#a142f4",
    "#24c1e0",
)
MAX_HOURLY_POINTS = 24 * 31  # the hourly chart shows the last 31 days at most
TOP_N = 20


class ReportError(Exception):
    """A problem the user can fix (unreadable warehouse, unwritable output).

    ``str(error)`` is one line meant for the command line.
    """


@dataclass(frozen=True)
class ReportSummary:
    """What was written, with the headline numbers (so the CLI can print them)."""

    out: Path
    has_data: bool
    pageviews: int = 0
    visitors: int = 0
    sessions: int = 0
    signups: int = 0
    demos: int = 0
    trials: int = 0
    customers: int = 0
    accounts: int = 0
    reason: str = ""  # why the page says "No data yet", when it does
    warnings: tuple[str, ...] = field(default_factory=tuple)  # marts missing or incomplete


# ---------------------------------------------------------------------------- entry point


def write_report(warehouse: Path, out: Path, target: str = "duckdb") -> ReportSummary:
    """Write the dashboard for the marts of ``target`` to ``out``; an empty warehouse gets a
    notice page. ``warehouse`` is the published DuckDB file (read for ``duckdb`` only).

    Raises ``ReportError`` when the warehouse cannot be read or ``out`` cannot be written.
    """
    warehouse = Path(warehouse)
    out = Path(out)
    if target == "duckdb" and not warehouse.exists():
        summary = ReportSummary(
            out=out, has_data=False, reason=f"The warehouse {warehouse} does not exist."
        )
        _write(out, _no_data_page(summary.reason))
        return summary
    try:
        source = open_marts(target, warehouse)
    except WebfunnelError as exc:
        raise ReportError(str(exc)) from exc
    try:
        page, summary = _render(_Marts(source), out)
    finally:
        source.close()
    _write(out, page)
    return summary


def _write(out: Path, page: str) -> None:
    """Write atomically, so a reader never sees half a dashboard."""
    tmp_name = None
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(
            "w", encoding="utf-8", dir=out.parent, prefix=f".{out.name}.", delete=False
        ) as tmp:
            tmp_name = tmp.name
            tmp.write(page)
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, out)
        tmp_name = None
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ReportError(f"cannot write the report to {out}: {reason}") from exc
    finally:
        if tmp_name is not None:
            Path(tmp_name).unlink(missing_ok=True)


# ---------------------------------------------------------------------------- reading


class _Marts:
    """The marts that exist with the columns the report needs; the rest count as empty."""

    def __init__(self, source: MartsSource) -> None:
        self.source = source
        self.warehouse = source.label
        try:
            found = source.fetch(
                """
                select lower(table_name), lower(column_name)
                from information_schema.columns
                where table_schema = 'marts' and table_catalog = current_database()
                """
            )
        except source.errors as exc:
            reason = first_line(exc)
            raise ReportError(f"cannot read the warehouse {self.warehouse}: {reason}") from exc
        columns: dict[str, set[str]] = defaultdict(set)
        for table, column in found:
            columns[table].add(column)
        self.has_schema = bool(columns) or self._schema_exists()
        self.available: set[str] = set()
        self.warnings: list[str] = []
        for relation, needed in MART_COLUMNS.items():
            if relation not in columns:
                self.warnings.append(f"marts.{relation} does not exist yet")
                continue
            missing = [column for column in needed if column not in columns[relation]]
            if missing:
                self.warnings.append(f"marts.{relation} lacks column(s) {', '.join(missing)}")
                continue
            self.available.add(relation)

    def _schema_exists(self) -> bool:
        try:
            return bool(
                self.source.fetch(
                    "select count(*) from information_schema.schemata "
                    "where schema_name = 'marts' and catalog_name = current_database()"
                )[0][0]
            )
        except self.source.errors:
            return False

    def rows(self, relation: str, sql: str) -> list[tuple]:
        """Run ``sql`` (which reads ``marts.<relation>``), or return [] if the mart is missing."""
        if relation not in self.available:
            return []
        try:
            return self.source.fetch(sql)
        except self.source.errors as exc:
            raise ReportError(
                f"cannot read marts.{relation} from {self.warehouse}: {first_line(exc)}"
            ) from exc

    def count(self, relation: str) -> int:
        found = self.rows(relation, f"select count(*) from marts.{relation}")
        return int(found[0][0]) if found else 0


# ---------------------------------------------------------------------------- formatting


def _esc(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _label(value: object, empty: str = "(not set)") -> str:
    text = "" if value is None else str(value)
    return text if text.strip() else empty


def _int(value: object) -> int:
    return int(value or 0)


def _fmt_int(value: float) -> str:
    return f"{round(value):,}"


def _fmt_num(value: float) -> str:
    """Counts that may be fractional (attribution credit): no decimals when whole."""
    if abs(value - round(value)) < 1e-9:
        return f"{round(value):,}"
    return f"{value:,.2f}"


def _fmt_pct(ratio: float | None) -> str:
    """Tables: one decimal unless the percentage is whole (50%, 33.3%)."""
    if ratio is None:
        return "–"
    pct = ratio * 100
    return f"{pct:.0f}%" if abs(pct - round(pct)) < 0.05 else f"{pct:.1f}%"


def _fmt_pct_short(ratio: float) -> str:
    """Heatmap cells are narrow: whole percentages, one decimal only below 10%."""
    pct = ratio * 100
    if pct >= 9.95 or abs(pct - round(pct)) < 0.05:
        return f"{pct:.0f}%"
    return f"{pct:.1f}%"


def _fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    if seconds < 60:
        return f"{sign}{seconds:.0f} s"
    if seconds < 3600:
        return f"{sign}{seconds / 60:.0f} min"
    if seconds < 86400:
        return f"{sign}{seconds / 3600:.1f} h"
    return f"{sign}{seconds / 86400:.1f} d"


def _raw(value: float | None) -> str:
    """The data-value attribute: the unformatted number (empty when there is none)."""
    if value is None:
        return ""
    if isinstance(value, int) or abs(value - round(value)) < 1e-9:
        return str(round(value))
    return repr(float(value))


def _ratio(part: float, whole: float) -> float | None:
    return part / whole if whole else None


def _short(value: float) -> str:
    """Axis ticks: 1.2k, 3M."""
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            scaled = value / limit
            return f"{scaled:.0f}{suffix}" if scaled == round(scaled) else f"{scaled:.1f}{suffix}"
    return f"{value:.0f}" if value == round(value) else f"{value:.1f}"


def _td_num(value: float | None, kind: str = "int") -> str:
    if value is None:
        return '<td class="num" data-value="">–</td>'
    shown = {
        "int": _fmt_int,
        "num": _fmt_num,
        "pct": _fmt_pct,
        "duration": _fmt_duration,
        "dec2": lambda v: f"{v:,.2f}",
    }[kind](value)
    return f'<td class="num" data-value="{_raw(value)}">{_esc(shown)}</td>'


def _td_text(value: object, css: str = "") -> str:
    text = _esc(value)
    cls = f' class="{css}"' if css else ""
    return f'<td{cls} title="{text}">{text}</td>'


def _table(
    table_id: str, headers: Sequence[str], rows: Iterable[str], numeric_from: int = 1
) -> str:
    head = "".join(
        f'<th class="num">{_esc(h)}</th>' if i >= numeric_from else f"<th>{_esc(h)}</th>"
        for i, h in enumerate(headers)
    )
    body = "".join(f"<tr>{row}</tr>" for row in rows)
    return (
        f'<div class="table-wrap"><table id="{table_id}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
    )


def _empty(message: str) -> str:
    return f'<p class="empty">{_esc(message)}</p>'


def _colours(names: Sequence[str]) -> dict[str, str]:
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(names)}


def _legend(colours: dict[str, str]) -> str:
    items = "".join(
        f'<li><span class="swatch" style="background:{colour}"></span>{_esc(name)}</li>'
        for name, colour in colours.items()
    )
    return f'<ul class="legend">{items}</ul>'


# ---------------------------------------------------------------------------- SVG charts


def _svg_open(name: str, title: str, width: float, height: float, fixed: bool = False) -> str:
    size = f'width="{width:.0f}" height="{height:.0f}"' if fixed else 'width="100%"'
    return (
        f'<svg class="chart" data-chart="{_esc(name)}" xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" {size} role="img" aria-label="{_esc(title)}">'
    )


def _axis(maximum: float) -> tuple[float, float]:
    """A round tick step and the axis top for values up to ``maximum`` (about 4 ticks)."""
    if maximum <= 0:
        return 1.0, 4.0
    rough = maximum / 4
    magnitude = 10 ** math.floor(math.log10(rough))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= rough)
    if magnitude >= 1 and step != round(step):  # keep whole-number ticks for counts
        step = math.ceil(step)
    return step, step * math.ceil(maximum / step)


def _stacked(
    name: str,
    title: str,
    labels: Sequence[str],
    tick_labels: Sequence[str | None],
    series: Sequence[tuple[str, Sequence[float]]],
    colours: dict[str, str],
    *,
    area: bool = False,
    unit: str = "pageviews",
    width: int = 1100,
    height: int = 260,
) -> str:
    """A stacked bar chart (or stacked area when ``area``) over an evenly spaced x axis."""
    n = len(labels)
    totals = [sum(values[i] for _, values in series) for i in range(n)]
    step, top = _axis(max(totals, default=0))
    left, right, pad_top, bottom = 52, 14, 10, 30
    plot_w, plot_h = width - left - right, height - pad_top - bottom

    def y(value: float) -> float:
        return pad_top + plot_h - value / top * plot_h

    parts = [_svg_open(name, title, width, height)]
    for k in range(round(top / step) + 1):
        yy = y(k * step)
        parts.append(
            f'<line class="grid" x1="{left}" x2="{width - right}" y1="{yy:.1f}" y2="{yy:.1f}"/>'
            f'<text class="tick" x="{left - 8}" y="{yy + 4:.1f}" text-anchor="end">'
            f"{_esc(_short(k * step))}</text>"
        )
    slot = plot_w / max(n, 1)
    xs = [left + (i + 0.5) * slot for i in range(n)]
    if area:
        # A step area: each hour holds its value across its own slot, so sparse data reads
        # as what it is rather than as spikes interpolated between hours.
        def outline(levels: Sequence[float]) -> list[str]:
            return [
                f"{left + (i + edge) * slot:.1f},{y(level):.1f}"
                for i, level in enumerate(levels)
                for edge in (0, 1)
            ]

        base = [0.0] * n
        for series_name, values in series:
            upper = [b + v for b, v in zip(base, values, strict=True)]
            total = sum(values)
            if total:
                points = outline(upper) + list(reversed(outline(base)))
                parts.append(
                    f'<polygon points="{" ".join(points)}" fill="{colours[series_name]}" '
                    f'data-series="{_esc(series_name)}" data-value="{_raw(total)}">'
                    f"<title>{_esc(series_name)}: {_esc(_fmt_num(total))} {unit}</title></polygon>"
                )
            base = upper
    else:
        bar_w = max(slot * 0.72, 0.6)
        for i, label in enumerate(labels):
            base_value = 0.0
            for series_name, values in series:
                value = values[i]
                if not value:
                    continue
                y0, y1 = y(base_value), y(base_value + value)
                parts.append(
                    f'<rect x="{xs[i] - bar_w / 2:.1f}" y="{y1:.1f}" width="{bar_w:.1f}" '
                    f'height="{max(y0 - y1, 0.5):.1f}" fill="{colours[series_name]}" '
                    f'data-series="{_esc(series_name)}" data-x="{_esc(label)}" '
                    f'data-value="{_raw(value)}"><title>{_esc(label)} · {_esc(series_name)}: '
                    f"{_esc(_fmt_num(value))} {unit}</title></rect>"
                )
                base_value += value
    parts.append(
        f'<line class="axis" x1="{left}" x2="{width - right}" '
        f'y1="{pad_top + plot_h}" y2="{pad_top + plot_h}"/>'
    )
    for x, tick in zip(xs, tick_labels, strict=True):
        if tick:
            parts.append(
                f'<text class="tick" x="{x:.1f}" y="{height - 10}" text-anchor="middle">'
                f"{_esc(tick)}</text>"
            )
    parts.append("</svg>")
    return "".join(parts)


def _funnel_svg(stages: Sequence[tuple[str, int]]) -> str:
    """Horizontal funnel: bar length is the share of visitors; text gives step conversion."""
    width, row_h, left, right = 1100, 46, 110, 330
    height = row_h * len(stages) + 8
    plot_w = width - left - right
    first = stages[0][1] if stages else 0
    parts = [_svg_open("funnel", "Conversion funnel", width, height)]
    previous = None
    for i, (stage, count) in enumerate(stages):
        top = 4 + i * row_h
        share = _ratio(count, first) or 0.0
        bar_w = max(share * plot_w, 2 if count else 0)
        colour = PALETTE[0] if i == 0 else "#4c8df6"
        step = _ratio(count, previous) if previous is not None else None
        note = f"{_fmt_pct(share)} of visitors"
        if step is not None:
            note += f" · {_fmt_pct(step)} of previous step"
        parts.append(
            f'<text class="label" x="{left - 12}" y="{top + 24}" text-anchor="end">'
            f"{_esc(stage)}</text>"
            f'<rect class="track" x="{left}" y="{top + 6}" width="{plot_w}" height="28" rx="3"/>'
            f'<rect x="{left}" y="{top + 6}" width="{bar_w:.1f}" height="28" rx="3" '
            f'fill="{colour}" data-stage="{_esc(stage.lower())}" data-value="{count}">'
            f"<title>{_esc(stage)}: {count:,}</title></rect>"
            f'<text class="value" x="{left + plot_w + 12}" y="{top + 20}">{count:,}</text>'
            f'<text class="tick" x="{left + plot_w + 12}" y="{top + 35}">{_esc(note)}</text>'
        )
        previous = count
    parts.append("</svg>")
    return "".join(parts)


def _grouped_hbars(
    name: str,
    title: str,
    groups: Sequence[str],
    series: Sequence[str],
    values: dict[tuple[str, str], float],
    colours: dict[str, str],
) -> str:
    """One group of bars per channel, one bar per attribution model."""
    bar_h, gap, left, right, width = 11, 14, 150, 70, 540
    group_h = bar_h * len(series) + gap
    height = group_h * len(groups) + 8
    top_value = max(values.values(), default=0) or 1
    plot_w = width - left - right
    parts = [_svg_open(name, title, width, height)]
    for gi, group in enumerate(groups):
        top = 4 + gi * group_h
        shown = group if len(group) <= 22 else group[:21] + "…"
        parts.append(
            f'<text class="label" x="{left - 10}" y="{top + group_h / 2 - 2:.1f}" '
            f'text-anchor="end"><title>{_esc(group)}</title>{_esc(shown)}</text>'
        )
        for si, model in enumerate(series):
            value = values.get((group, model), 0.0)
            y = top + si * bar_h
            parts.append(
                f'<rect x="{left}" y="{y}" width="{max(value / top_value * plot_w, 0):.1f}" '
                f'height="{bar_h - 2}" fill="{colours[model]}" data-series="{_esc(model)}" '
                f'data-x="{_esc(group)}" data-value="{_raw(value)}"><title>{_esc(group)} · '
                f"{_esc(model)}: {_esc(_fmt_num(value))}</title></rect>"
                f'<text class="tick" x="{left + value / top_value * plot_w + 4:.1f}" '
                f'y="{y + bar_h - 3}">{_esc(_fmt_num(value))}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def _heat_colour(rate: float) -> tuple[str, str]:
    """Fill from pale to deep blue by retention rate, and a readable text colour on it."""
    rate = min(max(rate, 0.0), 1.0)
    low, high = (232, 240, 254), (23, 78, 166)
    rgb = tuple(round(a + (b - a) * rate**0.7) for a, b in zip(low, high, strict=True))
    return "#{:02x}{:02x}{:02x}".format(*rgb), ("#ffffff" if rate > 0.35 else "#202124")


def _heatmap(cohort_type: str, rows: Sequence[tuple]) -> str:
    """Rows are (cohort_week, weeks_since, cohort_size, active, retention_rate)."""
    cohorts: dict[date, int] = {}
    cells: dict[tuple[date, int], tuple[int, float | None]] = {}
    for week, since, size, active, rate in rows:
        cohorts[week] = max(cohorts.get(week, 0), _int(size))
        cells[(week, int(since))] = (_int(active), None if rate is None else float(rate))
    weeks = sorted(cohorts)
    max_since = max((since for _, since in cells), default=0)
    cell_w, cell_h, left, top = 54, 26, 180, 26
    width = left + cell_w * (max_since + 1) + 4
    height = top + cell_h * len(weeks) + 4
    parts = [
        _svg_open(
            f"retention-{cohort_type}",
            f"Weekly retention, {cohort_type} cohorts",
            width,
            height,
            fixed=True,
        ),
        f'<text class="tick" x="{left - 10}" y="{top - 9}" text-anchor="end">'
        "Cohort week · size</text>",
    ]
    for since in range(max_since + 1):
        parts.append(
            f'<text class="tick" x="{left + since * cell_w + cell_w / 2}" y="{top - 9}" '
            f'text-anchor="middle">W{since}</text>'
        )
    for ri, week in enumerate(weeks):
        y = top + ri * cell_h
        parts.append(
            f'<text class="label" x="{left - 10}" y="{y + 17}" text-anchor="end">'
            f"{_esc(week.isoformat())} · {cohorts[week]:,}</text>"
        )
        for since in range(max_since + 1):
            if (week, since) not in cells:
                continue
            active, rate = cells[(week, since)]
            x = left + since * cell_w
            if rate is None:
                fill, ink, text = "#f1f3f4", "#5f6368", "–"
            else:
                (fill, ink), text = _heat_colour(rate), _fmt_pct_short(rate)
            parts.append(
                f'<g class="cell" data-cohort-week="{week.isoformat()}" data-weeks-since="{since}"'
                f' data-value="{_raw(rate)}"><rect x="{x + 1}" y="{y + 1}" width="{cell_w - 2}" '
                f'height="{cell_h - 2}" rx="2" fill="{fill}"/><text x="{x + cell_w / 2}" '
                f'y="{y + 17}" text-anchor="middle" fill="{ink}">{_esc(text)}</text>'
                f"<title>{week.isoformat()} week {since}: {active:,} of {cohorts[week]:,} "
                f"active ({_esc(text)})</title></g>"
            )
    parts.append("</svg>")
    return "".join(parts)


# ---------------------------------------------------------------------------- sections


@dataclass
class _Kpis:
    visitors: int = 0
    pageviews: int = 0
    sessions: int = 0
    signups: int = 0
    demos: int = 0
    trials: int = 0
    customers: int = 0
    accounts: int = 0
    first_seen: datetime | None = None
    last_seen: datetime | None = None


def _read_kpis(marts: _Marts) -> _Kpis:
    kpis = _Kpis(
        pageviews=marts.count("pageviews"),
        sessions=marts.count("sessions"),
        accounts=marts.count("accounts"),
    )
    found = marts.rows(
        "visitors",
        """
        select
            count(*),
            count(signed_up_at),
            count(demo_at),
            count(trial_at),
            count(customer_at),
            cast(min(first_seen_at) as timestamp),
            cast(max(last_seen_at) as timestamp)
        from marts.visitors
        """,
    )
    if found:
        row = found[0]
        kpis.visitors, kpis.signups, kpis.demos, kpis.trials, kpis.customers = (
            _int(v) for v in row[:5]
        )
        kpis.first_seen, kpis.last_seen = row[5], row[6]
    return kpis


def _kpi_section(kpis: _Kpis) -> str:
    cards = [
        ("visitors", "Visitors", kpis.visitors, "distinct cookies, bots excluded"),
        ("pageviews", "Pageviews", kpis.pageviews, _per(kpis.pageviews, kpis.sessions, "session")),
        ("sessions", "Sessions", kpis.sessions, _per(kpis.sessions, kpis.visitors, "visitor")),
        ("signups", "Signups", kpis.signups, _of_visitors(kpis.signups, kpis.visitors)),
        ("demos", "Demos", kpis.demos, _of_visitors(kpis.demos, kpis.visitors)),
        ("trials", "Trials", kpis.trials, _of_visitors(kpis.trials, kpis.visitors)),
        ("customers", "Customers", kpis.customers, _of_visitors(kpis.customers, kpis.visitors)),
        ("accounts", "Accounts", kpis.accounts, "with a login"),
    ]
    body = "".join(
        f'<div class="kpi"><div class="kpi-label">{_esc(label)}</div>'
        f'<div class="kpi-value" id="kpi-{key}" data-value="{value}">{value:,}</div>'
        f'<div class="kpi-note">{_esc(note)}</div></div>'
        for key, label, value, note in cards
    )
    return f'<section class="kpis" id="overview">{body}</section>'


def _per(part: int, whole: int, unit: str) -> str:
    return f"{part / whole:,.2f} per {unit}" if whole else ""


def _of_visitors(part: int, visitors: int) -> str:
    return f"{_fmt_pct(_ratio(part, visitors))} of visitors"


def _traffic_section(marts: _Marts) -> str:
    rows = marts.rows(
        "traffic_hourly",
        """
        select
            date_trunc('hour', cast(hour as timestamp)) as hour,
            channel_group,
            device_class,
            sum(pageviews)
        from marts.traffic_hourly
        where hour is not null
        group by 1, 2, 3
        """,
    )
    intro = (
        '<h2>Traffic</h2><p class="sub">Pageviews from <code>marts.traffic_hourly</code>, '
        "stacked by channel group and by device class (UTC).</p>"
    )
    if not rows:
        return _card("traffic", intro + _empty(_nothing("traffic_hourly", marts)))
    charts = []
    first_hour = min(row[0] for row in rows)
    last_hour = max(row[0] for row in rows)
    hours_total = int((last_hour - first_hour).total_seconds() // 3600) + 1
    shown_from = max(first_hour, last_hour - timedelta(hours=MAX_HOURLY_POINTS - 1))
    hours = [
        shown_from + timedelta(hours=i)
        for i in range(int((last_hour - shown_from).total_seconds() // 3600) + 1)
    ]
    days = [
        first_hour.date() + timedelta(days=i)
        for i in range((last_hour.date() - first_hour.date()).days + 1)
    ]
    hour_ticks = _hour_ticks(hours)
    day_step = max(1, math.ceil(len(days) / 14))
    day_ticks = [d.strftime("%b %-d") if i % day_step == 0 else None for i, d in enumerate(days)]
    note = (
        f" (last {MAX_HOURLY_POINTS // 24} days of {hours_total // 24 + 1})"
        if hours_total > MAX_HOURLY_POINTS
        else ""
    )
    for dimension, index, title in (
        ("channel-group", 1, "channel group"),
        ("device-class", 2, "device class"),
    ):
        by_hour: dict[str, dict[datetime, float]] = defaultdict(lambda: defaultdict(float))
        by_day: dict[str, dict[date, float]] = defaultdict(lambda: defaultdict(float))
        for row in rows:
            key = _label(row[index])
            by_hour[key][row[0]] += float(row[3] or 0)
            by_day[key][row[0].date()] += float(row[3] or 0)
        names = sorted(by_day, key=lambda k: (-sum(by_day[k].values()), k))
        colours = _colours(names)
        hourly = [(k, [by_hour[k].get(h, 0.0) for h in hours]) for k in names]
        daily = [(k, [by_day[k].get(d, 0.0) for d in days]) for k in names]
        charts.append(
            f'<div class="chart-block"><h3>Pageviews per hour by {title}{_esc(note)}</h3>'
            + _stacked(
                f"traffic-hourly-{dimension}",
                f"Pageviews per hour by {title}",
                [h.strftime("%Y-%m-%d %H:00") for h in hours],
                hour_ticks,
                hourly,
                colours,
                area=True,
            )
            + _legend(colours)
            + "</div>"
        )
        charts.append(
            f'<div class="chart-block"><h3>Pageviews per day by {title}</h3>'
            + _stacked(
                f"traffic-daily-{dimension}",
                f"Pageviews per day by {title}",
                [d.isoformat() for d in days],
                day_ticks,
                daily,
                colours,
            )
            + _legend(colours)
            + "</div>"
        )
    # Hourly charts first, then daily: the order the eye scans, channel group before device.
    ordered = [charts[0], charts[2], charts[1], charts[3]]
    return f'<section class="card" id="traffic">{intro}{"".join(ordered)}</section>'


def _hour_ticks(hours: Sequence[datetime]) -> list[str | None]:
    if len(hours) <= 48:
        step = 1 if len(hours) <= 12 else 3 if len(hours) <= 36 else 6
        return [h.strftime("%b %-d %H:00") if i % step == 0 else None for i, h in enumerate(hours)]
    days = len(hours) / 24
    every = max(1, math.ceil(days / 14))
    ticks: list[str | None] = []
    midnight = 0
    for h in hours:
        if h.hour == 0:
            ticks.append(h.strftime("%b %-d") if midnight % every == 0 else None)
            midnight += 1
        else:
            ticks.append(None)
    return ticks


def _card(section_id: str, inner: str) -> str:
    return f'<section class="card" id="{section_id}">{inner}</section>'


def _nothing(relation: str, marts: _Marts) -> str:
    if relation not in marts.available:
        why = next((w for w in marts.warnings if w.startswith(f"marts.{relation} ")), "")
        return f"No data: {why}."
    return f"No rows in marts.{relation} yet."


def _channels_section(marts: _Marts) -> str:
    rows = marts.rows(
        "funnel_daily",
        """
        select
            first_channel,
            sum(visitors),
            sum(signups),
            sum(demos),
            sum(trials),
            sum(customers)
        from marts.funnel_daily
        group by first_channel
        order by 2 desc, 1
        """,
    )
    intro = (
        '<h2>First-touch channels</h2><p class="sub">Visitors by the channel of their first '
        "pageview, and how many reached each stage (from <code>marts.funnel_daily</code>, all "
        "cohort days). Rates are of visitors.</p>"
    )
    if not rows:
        body = _empty(_nothing("funnel_daily", marts))
    else:
        lines = []
        totals = [0] * 5
        for channel, *counts in rows:
            counts = [_int(c) for c in counts]
            totals = [t + c for t, c in zip(totals, counts, strict=True)]
            lines.append(_channel_row(_td_text(_label(channel), "name"), counts))
        lines.append(_channel_row('<td class="name" data-total="1"><b>Total</b></td>', totals))
        body = _table(
            "table-channels",
            [
                "Channel",
                "Visitors",
                "Signups",
                "Demos",
                "Trials",
                "Customers",
                "Signup rate",
                "Demo rate",
                "Trial rate",
                "Customer rate",
            ],
            lines,
        )
    return f'<section class="card" id="channels">{intro}{body}</section>'


def _channel_row(first_cell: str, counts: Sequence[int]) -> str:
    """Counts (visitors first), then each stage's rate of visitors."""
    cells = [first_cell]
    cells += [_td_num(c) for c in counts]
    cells += [_td_num(_ratio(c, counts[0]), "pct") for c in counts[1:]]
    return "".join(cells)


def _funnel_section(marts: _Marts) -> str:
    """The overall funnel chart and the per-channel funnel table with median times."""
    counts = """
        select {key} count(*), count(signed_up_at), count(demo_at), count(trial_at),
            count(customer_at)
        from marts.visitors
        {group}
    """
    overall = marts.rows("visitors", counts.format(key="", group=""))
    per_channel = marts.rows(
        "visitors",
        counts.format(key="first_channel,", group="group by first_channel order by 2 desc, 1"),
    )
    medians = _funnel_medians(marts)
    intro = (
        '<h2>Funnel</h2><p class="sub">Visitor → signup → demo → trial → customer (from '
        "<code>marts.visitors</code>). Stages are counted independently; times are medians "
        "from the visitor's first pageview.</p>"
    )
    if not overall or not _int(overall[0][0]):
        return _card("funnel", intro + _empty(_nothing("visitors", marts)))
    counts = [_int(v) for v in overall[0][:5]]
    chart = _funnel_svg(
        list(zip(("Visitors", "Signups", "Demos", "Trials", "Customers"), counts, strict=True))
    )
    headers = ["First channel", "Visitors"]
    for stage in ("Signups", "Demos", "Trials", "Customers"):
        headers += [stage, "%", "Median time"]

    def line(first_cell: str, key: object, row: Sequence) -> str:
        visitors = _int(row[0])
        cells = [first_cell, _td_num(visitors)]
        for i, stage in enumerate(STAGES):
            count = _int(row[1 + i])
            median = medians.get((key, stage))
            cells += [
                _td_num(count),
                _td_num(_ratio(count, visitors), "pct"),
                _td_num(None if median is None else float(median), "duration"),
            ]
        return "".join(cells)

    lines = [line(_td_text(_label(r[0]), "name"), r[0], r[1:]) for r in per_channel]
    lines.append(line('<td class="name" data-total="1"><b>All channels</b></td>', ALL, overall[0]))
    table = _table("table-funnel-channels", headers, lines)
    section = (
        f'<section class="card" id="funnel">{intro}{chart}'
        f"<h3>By first-touch channel</h3>{table}</section>"
    )
    return section


def _funnel_medians(marts: _Marts) -> dict[tuple[object, str], float]:
    """Median seconds from first pageview to each stage, per first channel and overall.

    One ordered-set aggregate per query over the stages stacked as rows: Redshift refuses
    several sort-based aggregates with different orderings in one query.
    """
    durations = " union all ".join(
        f"select first_channel, '{stage}' as stage, "
        f"extract(epoch from ({column} - first_seen_at)) as seconds "
        f"from marts.visitors where {column} is not null"
        for stage, column in STAGE_COLUMNS.items()
    )
    medians: dict[tuple[object, str], float] = {}
    for key, group in (("first_channel,", "first_channel, stage"), ("", "stage")):
        for row in marts.rows(
            "visitors",
            f"select {key} stage, percentile_cont(0.5) within group (order by seconds) "
            f"from ({durations}) as durations group by {group}",
        ):
            channel = row[0] if key else ALL
            stage, median = row[-2], row[-1]
            medians[(channel, stage)] = None if median is None else float(median)
    return medians


def _attribution_section(marts: _Marts) -> str:
    rows = marts.rows(
        "channel_attribution",
        """
        select conversion_stage, attribution_model, channel, sum(conversions)
        from marts.channel_attribution
        group by 1, 2, 3
        """,
    )
    intro = (
        '<h2>Attribution</h2><p class="sub">Conversions credited to channels by each '
        "attribution model (from <code>marts.channel_attribution</code>). Each model's "
        "credits for a stage add up to that stage's conversions.</p>"
    )
    if not rows:
        return _card("attribution", intro + _empty(_nothing("channel_attribution", marts)))
    found_models = {_label(r[1]) for r in rows}
    models = [m for m in KNOWN_MODELS if m in found_models] + sorted(
        found_models - set(KNOWN_MODELS)
    )
    colours = _colours(models)
    stages_found = {_label(r[0]) for r in rows}
    stages = [s for s in STAGES if s in stages_found] + sorted(stages_found - set(STAGES))
    blocks = []
    for stage in stages:
        values: dict[tuple[str, str], float] = defaultdict(float)
        for row_stage, model, channel, conversions in rows:
            if _label(row_stage) == stage:
                values[(_label(channel), _label(model))] += float(conversions or 0)
        channels = sorted(
            {channel for channel, _ in values},
            key=lambda c: (-max(values.get((c, m), 0.0) for m in models), c),
        )
        table_rows = []
        for channel in channels:
            table_rows.append(
                _td_text(channel, "name")
                + "".join(_td_num(values.get((channel, m), 0.0), "num") for m in models)
            )
        table_rows.append(
            '<td class="name" data-total="1"><b>Total</b></td>'
            + "".join(
                _td_num(sum(values.get((c, m), 0.0) for c in channels), "num") for m in models
            )
        )
        chart_channels = channels[:10]
        blocks.append(
            f'<div class="chart-block"><h3>{_esc(stage.capitalize())} conversions</h3>'
            + _grouped_hbars(
                f"attribution-{_slug(stage)}",
                f"{stage} conversions by channel and attribution model",
                chart_channels,
                models,
                {k: v for k, v in values.items() if k[0] in chart_channels},
                colours,
            )
            + _table(
                f"table-attribution-{_slug(stage)}",
                ["Channel", *[m.replace("_", " ") for m in models]],
                table_rows,
            )
            + "</div>"
        )
    return (
        f'<section class="card" id="attribution">{intro}{_legend(colours)}'
        f'<div class="grid2">{"".join(blocks)}</div></section>'
    )


def _slug(text: str) -> str:
    """A safe id fragment for a value we do not control."""
    slug = "".join(ch if ch.isascii() and ch.isalnum() else "-" for ch in text.lower()).strip("-")
    return slug or "other"


def _retention_section(marts: _Marts) -> str:
    rows = marts.rows(
        "retention_weekly",
        """
        select
            cohort_type, cast(cohort_week as date), weeks_since, cohort_size, active,
            retention_rate
        from marts.retention_weekly
        where cohort_week is not null and weeks_since is not null and weeks_since >= 0
        order by 1, 2, 3
        """,
    )
    intro = (
        '<h2>Retention</h2><p class="sub">Share of each weekly cohort active k weeks later '
        "(weeks start Monday, UTC; from <code>marts.retention_weekly</code>).</p>"
    )
    if not rows:
        return _card("retention", intro + _empty(_nothing("retention_weekly", marts)))
    by_type: dict[str, list[tuple]] = defaultdict(list)
    for cohort_type, *rest in rows:
        by_type[_label(cohort_type)].append(tuple(rest))
    titles = {
        "visitor": "Visitors (week of first pageview)",
        "user": "Users (week of signup)",
        "customer": "Customers (week they became customers)",
    }
    blocks = []
    for cohort_type in list(COHORT_TYPES) + sorted(set(by_type) - set(COHORT_TYPES)):
        title = titles.get(cohort_type, cohort_type)
        if cohort_type in by_type:
            chart = _heatmap(_slug(cohort_type), by_type[cohort_type])
        else:
            chart = _empty(f"No {cohort_type} cohorts yet.")
        blocks.append(
            f'<div class="chart-block"><h3>{_esc(title)}</h3>'
            f'<div class="scroll">{chart}</div></div>'
        )
    return f'<section class="card" id="retention">{intro}{"".join(blocks)}</section>'


def _pages_section(marts: _Marts) -> str:
    landing = marts.rows(
        "sessions",
        f"""
        select
            landing_url,
            count(*) as sessions,
            sum(pageviews),
            sum(case when pageviews = 1 then 1 else 0 end)
        from marts.sessions
        group by landing_url
        order by sessions desc, landing_url
        limit {TOP_N}
        """,
    )
    total_sessions = marts.count("sessions")
    if landing:
        landing_html = _table(
            "table-landing-pages",
            ["Landing page", "Sessions", "Share", "Pages / session", "Bounce rate"],
            (
                _td_text(_label(url), "url")
                + _td_num(_int(sessions))
                + _bar_cell(_ratio(_int(sessions), total_sessions))
                + _td_num(
                    float(pages or 0) / _int(sessions) if _int(sessions) else None,
                    "dec2",
                )
                + _td_num(_ratio(_int(bounces), _int(sessions)), "pct")
                for url, sessions, pages, bounces in landing
            ),
        )
    else:
        landing_html = _empty(_nothing("sessions", marts))

    referred: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for host, count in marts.rows(
        "pageviews",
        """
        select referrer_host, count(*) from marts.pageviews
        where coalesce(trim(referrer_host), '') <> ''
            -- internal navigation is not a referral (the contract's rule 3)
            and regexp_replace(lower(referrer_host), '^www[.]', '')
                <> regexp_replace(lower(coalesce(url_host, '')), '^www[.]', '')
        group by referrer_host
        """,
    ):
        referred[str(host)][0] += _int(count)
    for host, count in marts.rows(
        "visitors",
        """
        select first_referrer_host, count(*) from marts.visitors
        where coalesce(trim(first_referrer_host), '') <> ''
        group by first_referrer_host
        """,
    ):
        referred[str(host)][1] += _int(count)
    top = sorted(referred.items(), key=lambda item: (-item[1][0], -item[1][1], item[0]))[:TOP_N]
    if top:
        total_referred = sum(v[0] for v in referred.values())
        referrers_html = _table(
            "table-referrers",
            ["Referrer host", "Pageviews", "Share", "First touches"],
            (
                _td_text(host, "url")
                + _td_num(pageviews)
                + _bar_cell(_ratio(pageviews, total_referred))
                + _td_num(visitors)
                for host, (pageviews, visitors) in top
            ),
        )
    else:
        referrers_html = _empty("No referred pageviews yet.")
    return (
        '<section class="card" id="pages"><h2>Pages and referrers</h2>'
        '<div class="grid2 wide-left"><div><h3>Top landing pages</h3>'
        '<p class="sub">Sessions by their first page (<code>marts.sessions</code>).</p>'
        f"{landing_html}</div><div><h3>Top referrers</h3>"
        '<p class="sub">Pageviews referred by each external host (internal navigation '
        "left out; <code>marts.pageviews</code>), and visitors whose first touch it was "
        f"(<code>marts.visitors</code>).</p>{referrers_html}</div></div></section>"
    )


def _bar_cell(ratio: float | None) -> str:
    width = 0 if ratio is None else max(0.0, min(ratio, 1.0)) * 100
    return (
        f'<td class="num share" data-value="{_raw(ratio)}"><span class="bar">'
        f'<span style="width:{width:.1f}%"></span></span>{_esc(_fmt_pct(ratio))}</td>'
    )


def _accounts_section(marts: _Marts) -> str:
    rows = marts.rows(
        "accounts",
        """
        select current_plan, count(*), sum(logins), sum(plan_changes), sum(upgrades)
        from marts.accounts
        group by current_plan
        """,
    )
    intro = (
        '<h2>Accounts</h2><p class="sub">Accounts by current plan (from '
        "<code>marts.accounts</code>).</p>"
    )
    if not rows:
        return _card("accounts", intro + _empty(_nothing("accounts", marts)))

    def order(row: tuple) -> tuple:
        plan = _label(row[0], "(none)")
        return (PLAN_ORDER.index(plan) if plan in PLAN_ORDER else len(PLAN_ORDER), plan)

    total = sum(_int(r[1]) for r in rows)
    lines = [
        _td_text(_label(plan, "(none)"), "name")
        + _td_num(_int(count))
        + _bar_cell(_ratio(_int(count), total))
        + _td_num(_int(logins))
        + _td_num(_int(changes))
        + _td_num(_int(upgrades))
        for plan, count, logins, changes, upgrades in sorted(rows, key=order)
    ]
    table = _table(
        "table-accounts-plans",
        ["Current plan", "Accounts", "Share", "Logins", "Plan changes", "Upgrades"],
        lines,
    )
    return f'<section class="card" id="accounts">{intro}{table}</section>'


# ---------------------------------------------------------------------------- page


def _render(marts: _Marts, out: Path) -> tuple[str, ReportSummary]:
    warnings = tuple(marts.warnings)
    if not marts.has_schema:
        reason = f"The warehouse {marts.warehouse} has no marts schema."
        return _no_data_page(reason), ReportSummary(
            out=out, has_data=False, reason=reason, warnings=warnings
        )
    kpis = _read_kpis(marts)
    if not kpis.visitors and not kpis.pageviews:
        reason = f"The marts in {marts.warehouse} hold no visitors or pageviews."
        return _no_data_page(reason), ReportSummary(
            out=out, has_data=False, reason=reason, warnings=warnings
        )
    sections = [
        _kpi_section(kpis),
        _traffic_section(marts),
        _channels_section(marts),
        _funnel_section(marts),
        _attribution_section(marts),
        _retention_section(marts),
        _pages_section(marts),
        _accounts_section(marts),
    ]
    if warnings:
        items = "".join(f"<li>{_esc(w)}</li>" for w in warnings)
        sections.insert(
            0,
            f'<section class="card warn" id="warnings"><b>Some marts are incomplete:</b>'
            f"<ul>{items}</ul></section>",
        )
    span = ""
    if kpis.first_seen and kpis.last_seen:
        span = f"{kpis.first_seen:%Y-%m-%d %H:%M} – {kpis.last_seen:%Y-%m-%d %H:%M} UTC"
    page = _page(
        "".join(sections),
        subtitle=span,
        nav=True,
    )
    summary = ReportSummary(
        out=out,
        has_data=True,
        pageviews=kpis.pageviews,
        visitors=kpis.visitors,
        sessions=kpis.sessions,
        signups=kpis.signups,
        demos=kpis.demos,
        trials=kpis.trials,
        customers=kpis.customers,
        accounts=kpis.accounts,
        warnings=warnings,
    )
    return page, summary


def _no_data_page(reason: str) -> str:
    body = (
        '<section class="card nodata" id="no-data"><h2>No data yet — run '
        "<code>webfunnel run</code> first</h2>"
        f'<p class="sub">{_esc(reason)}</p>'
        "<p>Land files under the landing zone (or generate some with "
        "<code>webfunnel generate</code>), run <code>webfunnel run</code>, then "
        "<code>webfunnel report</code> again.</p></section>"
    )
    return _page(body, subtitle="", nav=False)


NAV = (
    ("overview", "Overview"),
    ("traffic", "Traffic"),
    ("channels", "Channels"),
    ("funnel", "Funnel"),
    ("attribution", "Attribution"),
    ("retention", "Retention"),
    ("pages", "Pages"),
    ("accounts", "Accounts"),
)

CSS = """
*{box-sizing:border-box}
body{margin:0;background:#f1f3f4;color:#202124;
 font:14px/1.45 Roboto,"Segoe UI","Helvetica Neue",Arial,"Liberation Sans",sans-serif}
header{background:#fff;border-bottom:1px solid #dadce0;padding:12px 32px;display:flex;
 align-items:center;gap:24px;flex-wrap:wrap}
.brand{font-size:20px;font-weight:500;display:flex;align-items:center;gap:10px}
.brand .dot{width:26px;height:26px;border-radius:6px;
 background:linear-gradient(135deg,#f9ab00 0 33%,#e8710a 33% 66%,#1a73e8 66%)}
.span{color:#5f6368}
nav{margin-left:auto;display:flex;gap:4px;flex-wrap:wrap}
nav a{color:#1a73e8;text-decoration:none;padding:6px 10px;border-radius:16px;font-weight:500}
nav a:hover{background:#e8f0fe}
main{max-width:1320px;margin:0 auto;padding:24px 32px 48px}
.card{background:#fff;border-radius:8px;padding:20px 24px;margin-bottom:24px;
 box-shadow:0 1px 2px rgba(60,64,67,.3),0 1px 3px 1px rgba(60,64,67,.15)}
.warn{background:#fef7e0}
h2{font-size:18px;font-weight:500;margin:0 0 4px}
h3{font-size:14px;font-weight:500;margin:18px 0 8px;color:#3c4043}
.sub{color:#5f6368;margin:0 0 12px}
code{background:#f1f3f4;border-radius:4px;padding:1px 5px;font-size:90%}
.kpis{display:grid;grid-template-columns:repeat(auto-fit,minmax(140px,1fr));gap:16px;
 margin-bottom:24px}
.kpi{background:#fff;border-radius:8px;padding:14px 18px;
 box-shadow:0 1px 2px rgba(60,64,67,.3),0 1px 3px 1px rgba(60,64,67,.15);
 border-top:3px solid #1a73e8}
.kpi-label{color:#5f6368;font-size:13px}
.kpi-value{font-size:28px;line-height:1.3;font-variant-numeric:tabular-nums}
.kpi-note{color:#80868b;font-size:12px}
.grid2{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:8px 32px}
.wide-left{grid-template-columns:minmax(0,3fr) minmax(0,2fr)}
@media (max-width:960px){.grid2{grid-template-columns:minmax(0,1fr)}}
.chart-block{margin-top:8px}
svg.chart{display:block;max-width:100%;height:auto;overflow:visible}
svg text{font-family:inherit}
svg .tick{font-size:11px;fill:#5f6368}
svg .label{font-size:12px;fill:#3c4043}
svg .value{font-size:14px;fill:#202124;font-weight:500}
svg .grid{stroke:#e8eaed;stroke-width:1}
svg .axis{stroke:#bdc1c6;stroke-width:1}
svg .track{fill:#f1f3f4}
svg .cell text{font-size:11px}
.legend{list-style:none;display:flex;flex-wrap:wrap;gap:4px 16px;padding:0;margin:6px 0 0 52px;
 color:#3c4043;font-size:12px}
.legend li{display:flex;align-items:center;gap:6px;max-width:260px;overflow:hidden;
 text-overflow:ellipsis;white-space:nowrap}
.swatch{width:10px;height:10px;border-radius:2px;flex:none}
.table-wrap,.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:13px}
th{text-align:left;font-weight:500;color:#5f6368;border-bottom:1px solid #dadce0;
 padding:8px;white-space:nowrap}
td{padding:6px 8px;border-bottom:1px solid #f1f3f4}
tbody tr:hover{background:#f8f9fa}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.url,td.name{overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
td.name{max-width:380px}
td.url{max-width:0;min-width:180px;width:100%}
td[data-total]{font-weight:500}
tr:has(td[data-total]) td{border-top:1px solid #dadce0;font-weight:500}
.share{min-width:120px}
.bar{display:inline-block;width:60px;height:6px;background:#e8eaed;border-radius:3px;
 margin-right:8px;vertical-align:middle;overflow:hidden}
.bar span{display:block;height:100%;background:#1a73e8}
.empty{color:#5f6368;font-style:italic}
.nodata{text-align:center;padding:64px 24px}
.nodata h2{font-size:24px;margin-bottom:12px}
footer{color:#80868b;font-size:12px;text-align:center;padding-bottom:24px}
"""


def _page(body: str, *, subtitle: str, nav: bool) -> str:
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    links = "".join(f'<a href="#{key}">{label}</a>' for key, label in NAV) if nav else ""
    # No scripts, no remote anything: the browser enforces it.
    csp = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="generator" content="webfunnel">'
        f"<title>webfunnel — dashboard</title><style>{CSS}</style></head><body>"
        '<header><div class="brand"><span class="dot"></span>webfunnel</div>'
        f'<div class="span">{_esc(subtitle)}</div><nav>{links}</nav></header>'
        f"<main>{body}</main>"
        f"<footer>Generated {generated} from the warehouse marts.</footer>"
        "</body></html>\n"
    )
