"""Report charts drawn with matplotlib in a CJK font."""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Callable, Optional

from bot.config.report import ReportConfig
from bot.reports.period import Figures, Period, ReportError, format_moment, place_label

CJK_FONT_FILE = "NotoSansCJKsc-Regular.otf"


_GLYPH_MISSING = r"Glyph \d+ .*missing from current font"


# -- charts ----------------------------------------------------------------------------------------

def cjk_font() -> str:
    """Registers mplfonts' Noto Sans CJK SC with matplotlib (once per process) and returns its
    family name. matplotlib 3.5 has no per-glyph fallback, so every label is drawn in this font."""
    from matplotlib import font_manager
    from mplfonts.conf import FONT_DIR

    path = str(Path(FONT_DIR) / CJK_FONT_FILE)
    if not any(entry.fname == path for entry in font_manager.fontManager.ttflist):
        font_manager.fontManager.addfont(path)
    return font_manager.FontProperties(fname=path).get_name()


def render_chart(draw: Callable, figures: Figures, config: ReportConfig, path: Path) -> Path:
    """One PNG, drawn and saved with the CJK font; a glyph it lacks raises instead of leaving boxes."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    style = {"font.family": "sans-serif", "font.sans-serif": [cjk_font()], "axes.unicode_minus": False}
    with matplotlib.rc_context(style), warnings.catch_warnings():
        warnings.filterwarnings("error", message=_GLYPH_MISSING)
        figure = Figure(figsize=(10, 5.5), dpi=110, constrained_layout=True)
        FigureCanvasAgg(figure)
        try:
            draw(figure, figures, config)
            figure.savefig(path)
        except UserWarning as error:
            raise ReportError(f"图表字体缺字，没有生成 {path.name}：{error}") from error
    return path


def _nothing(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=16, color="#666666", transform=ax.transAxes)
    ax.set_axis_off()


def _counts_axis(ax, top: int) -> None:
    """Whole tickets on the y axis, with room above the tallest bar for its label."""
    from matplotlib.ticker import MaxNLocator

    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylim(0, max(top, 1) * 1.15)
    ax.set_ylabel("工单数（件）")


def _day_ticks(ax, period: Period) -> list[int]:
    days = list(range(period.days))
    ax.set_xticks(days)
    ax.set_xticklabels([period.day(i).strftime("%m-%d") for i in days], rotation=45 if period.days > 7 else 0,
                       fontsize=8 if period.days > 7 else 10)
    return days


def _chart_categories(figure, f: Figures, config: ReportConfig) -> None:
    ax = figure.subplots()
    ax.set_title(f"各类别工单数（按天，{f.period.label()}）")
    if not f.total:
        return _nothing(ax, "本周期没有工单")
    ranked = [c.key[0] for c in f.categories if c.now]
    drawn, rest = ranked[:config.chart_categories_max], set(ranked[config.chart_categories_max:])
    series = {config.category(code): [f.daily_categories.get((d, code), 0) for d in range(f.period.days)]
              for code in drawn}
    if rest:
        series["其他类别"] = [sum(n for (d, code), n in f.daily_categories.items() if d == day and code in rest)
                          for day in range(f.period.days)]
    bottom = [0] * f.period.days
    colours = _colours(len(series))
    days = _day_ticks(ax, f.period)
    for (label, values), colour in zip(series.items(), colours):
        ax.bar(days, values, bottom=bottom, label=label, color=colour)
        bottom = [b + v for b, v in zip(bottom, values)]
    _counts_axis(ax, max(bottom))
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=9)


def _chart_communities(figure, f: Figures, config: ReportConfig) -> None:
    ax = figure.subplots()
    ax.set_title(f"各社区工单数（按天，{f.period.label()}）")
    if not f.total:
        return _nothing(ax, "本周期没有工单")
    days = _day_ticks(ax, f.period)
    names = sorted({name for _, name in f.daily_communities}, key=lambda n: (n is None, n or ""))
    for name, colour in zip(names, _colours(len(names))):
        ax.plot(days, [f.daily_communities.get((d, name), 0) for d in days], marker="o", label=name or config.unlocated,
                color=colour)
    _counts_axis(ax, max(f.daily_communities.values()))
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1))


def _chart_rates(figure, f: Figures, config: ReportConfig) -> None:
    ax = figure.subplots()
    ax.set_title("三率：本周期与上一周期")
    names = ("响应率", "解决率", "满意率")
    pairs = ((f.rates.response, f.previous_rates.response), (f.rates.resolution, f.previous_rates.resolution),
             (f.rates.satisfaction, f.previous_rates.satisfaction))
    width = 0.38
    for offset, label, colour, which in ((-width / 2, "本周期", "#2f6fb0", 0), (width / 2, "上一周期", "#a9c4e2", 1)):
        positions = [i + offset for i in range(len(names))]
        values = [(pair[which].value or 0) * 100 for pair in pairs]
        ax.bar(positions, values, width, label=label, color=colour)
        for x, value, pair in zip(positions, values, pairs):
            rate = pair[which]
            text = "无数据" if rate.value is None else f"{value:.1f}%\n{rate.numerator}/{rate.denominator}"
            ax.text(x, value + 1.5, text, ha="center", va="bottom", fontsize=9)
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names)
    ax.set_ylim(0, 118)
    ax.set_ylabel("比率（%）")
    ax.legend(loc="upper right")


def _chart_heatmap(figure, f: Figures, config: ReportConfig) -> None:
    ax = figure.subplots()
    ax.set_title("楼栋 × 类别 工单数（本周期）")
    per_building: dict[tuple[Optional[str], str], int] = {}
    for (community, building, _), n in f.heatmap.items():
        per_building[(community, building)] = per_building.get((community, building), 0) + n
    if not per_building:
        return _nothing(ax, "本周期没有注明楼栋的工单")
    busiest = sorted(per_building, key=lambda b: -per_building[b])[:config.heatmap_buildings_max]
    rows = sorted(busiest, key=lambda b: (b[0] or "", int(b[1]) if b[1].isdigit() else 10**6, b[1]))
    columns = [c.key[0] for c in f.categories if any(f.heatmap.get((*row, c.key[0])) for row in rows)]
    matrix = [[f.heatmap.get((*row, code), 0) for code in columns] for row in rows]
    figure.set_size_inches(max(8, 1.1 * len(columns) + 3), max(4, 0.38 * len(rows) + 2))
    image = ax.imshow(matrix, cmap="OrRd", aspect="auto")
    ax.set_xticks(range(len(columns)))
    ax.set_xticklabels([config.category(code) for code in columns], rotation=30, ha="right")
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([place_label(*row, config) for row in rows])
    peak = max(max(row) for row in matrix) or 1
    for y, row in enumerate(matrix):
        for x, n in enumerate(row):
            if n:
                ax.text(x, y, str(n), ha="center", va="center", fontsize=8,
                        color="white" if n > peak * 0.6 else "black")
    figure.colorbar(image, ax=ax, label="工单数（件）")


def _chart_overdue(figure, f: Figures, config: ReportConfig) -> None:
    ax = figure.subplots()
    ax.set_title(f"超期未办结工单的超期时长（截至 {format_moment(f.as_of, f.zone, '%m-%d %H:%M')}）")
    if not f.overdue_total:
        return _nothing(ax, "没有超期未办结的工单")
    labels = config.ageing_labels()
    kinds = sorted({kind for _, kind in f.overdue_ageing}, key=lambda k: list(config.handler_kinds).index(k)
                   if k in config.handler_kinds else len(config.handler_kinds))
    bottom = [0] * len(labels)
    for kind, colour in zip(kinds, _colours(len(kinds))):
        values = [f.overdue_ageing.get((i, kind), 0) for i in range(len(labels))]
        ax.bar(range(len(labels)), values, bottom=bottom, label=config.handler_kinds.get(kind, kind or "未派单"),
               color=colour)
        bottom = [b + v for b, v in zip(bottom, values)]
    for x, total in enumerate(bottom):
        ax.text(x, total, str(total), ha="center", va="bottom")
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels([f"超期{label}" for label in labels])
    _counts_axis(ax, max(bottom))
    ax.legend(title="承办单位", loc="upper left")


def _colours(n: int) -> list:
    import matplotlib

    palette = matplotlib.colormaps["tab10" if n <= 10 else "tab20"]
    return [palette(i % palette.N) for i in range(n)]


CHARTS = {"categories_over_time.png": _chart_categories, "communities_over_time.png": _chart_communities,
          "rates.png": _chart_rates, "building_category_heatmap.png": _chart_heatmap,
          "overdue_ageing.png": _chart_overdue}
CHART_TITLES = {"categories_over_time.png": "各类别工单数（按天）", "communities_over_time.png": "各社区工单数（按天）",
                "rates.png": "三率：本周期与上一周期", "building_category_heatmap.png": "楼栋 × 类别热力图",
                "overdue_ageing.png": "超期未办结工单的超期时长"}
