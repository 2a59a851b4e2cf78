"""The report folder: summary, masked ticket CSV and charts."""
from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterable
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot.config.report import ReportConfig
from bot.privacy.masks import mask_phone, mask_room, mask_text
from bot.reports import rates
from bot.reports.charts import CHART_TITLES, CHARTS, render_chart
from bot.reports.period import Count, Figures, HighFrequency, Period, format_moment, gather, place_label
from bot.tickets.models import Ticket
from bot.tickets.status import OPEN_VALUES

# -- writing ---------------------------------------------------------------------------------------

def default_folder(var_dir: Path, config: ReportConfig, period: Period, community: str | None) -> Path:
    return Path(var_dir) / config.out_dir / "-".join(filter(None, (period.kind, period.first.isoformat(), community)))


def writers(engine, figures: Figures, config: ReportConfig, folder: Path,
            street: str) -> list[tuple[str, Callable[[], Path]]]:
    """(file name, write it) for every file of the report, in order: the CLI shows progress per file."""
    files = [("summary.md", lambda: write_summary(figures, config, folder / "summary.md", street)),
             ("tickets.csv", lambda: write_tickets(engine, figures, config, folder / "tickets.csv"))]
    return files + [(name, (lambda n=name, d=draw: render_chart(d, figures, config, folder / n)))
                    for name, draw in CHARTS.items()]


def make(engine, period: Period, zone: ZoneInfo, as_of: datetime, config: ReportConfig, response_hours: dict,
         folder: Path, street: str, community: str | None = None) -> tuple[Figures, list[Path]]:
    """The whole report at once (tests, benchmark); the CLI runs the same steps with progress."""
    figures = gather(engine, period, zone, as_of, config, response_hours, community)
    folder.mkdir(parents=True, exist_ok=True)
    return figures, [write() for _, write in writers(engine, figures, config, folder, street)]


def _signed(change: int) -> str:
    return f"+{change}" if change > 0 else str(change)


def _percent(rate: rates.Rate) -> str:
    return "—" if rate.value is None else f"{rate.value:.1%}"


def overdue_for(as_of: datetime, deadline: datetime) -> str:
    hours = int((as_of - deadline).total_seconds() // 3600)
    return f"{hours // 24}天{hours % 24}小时" if hours >= 24 else f"{hours}小时"


def _table(header: Iterable[str], rows: Iterable[Iterable]) -> list[str]:
    header = list(header)
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]]


def write_summary(figures: Figures, config: ReportConfig, path: Path, street: str) -> Path:
    f, zone = figures, figures.zone
    previous = f.period.previous()
    kind = "周报" if f.period.kind == "week" else "月报"
    lines = [f"# {street}接诉即办{kind}{f'（{f.community}）' if f.community else ''}", "",
             f"- 周期：{f.period.label()}，共 {f.period.days} 天",
             f"- 对比：上一周期 {previous.label()}（同样 {previous.days} 天）",
             f"- 数据截至：{format_moment(f.as_of, zone)}（工单状态为生成报表时的状态）", "",
             "## 一、工单概况", "",
             f"本周期受理工单 **{f.total}** 件，上一周期 {f.previous_total} 件（{_signed(f.total - f.previous_total)}）"
             + (f"；其中 {f.merged} 件是同一问题的重复反映，已并入其他工单。" if f.merged else "。"),
             "", "### 按状态", "",
             *_table(("状态", "工单数"), [(config.statuses.get(s, s), n) for s, n in f.statuses.items()]),
             "", "### 按类别", ""]
    if f.categories:
        lines += _table(("类别", "本周期", "上一周期", "变化"),
                        [(config.category(c.key[0]), c.now, c.before, _signed(c.change)) for c in f.categories])
    else:
        lines.append("本周期和上一周期都没有工单。")
    lines += ["", *_rates_section(f), "", *_overdue_section(f, config), "",
              *_high_frequency_section(f, config), "", "## 附件", "",
              "- `tickets.csv`：本周期全部工单（电话、门牌号、反映人已脱敏），可直接用 Excel 打开",
              *[f"- `{name}`：{title}" for name, title in CHART_TITLES.items()], ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _rates_section(f: Figures) -> list[str]:
    def row(name: str, now: rates.Rate, before: rates.Rate, detail: str) -> tuple:
        return (name, _percent(now), f"{now.numerator}/{now.denominator}", detail,
                f"{_percent(before)}（{before.numerator}/{before.denominator}）")

    r, s, sat = f.rates.response.counts, f.rates.resolution.counts, f.rates.satisfaction.counts
    followups = f.rates.followups
    return ["## 二、三率", "",
            *_table(("指标", "本周期", "分子/分母", "明细", "上一周期"), [
                row("响应率", f.rates.response, f.previous_rates.response,
                    f"按时 {r['in_time']}，超时响应 {r['late']}，未响应 {r['none']}，未到响应时限 {r['pending']}"),
                row("解决率", f.rates.resolution, f.previous_rates.resolution,
                    f"已解决 {s['solved']}，部分解决 {s['partly']}，没解决 {s['unsolved']}"),
                row("满意率", f.rates.satisfaction, f.previous_rates.satisfaction,
                    f"满意 {sat['satisfied']}，基本满意 {sat['basically']}，不满意 {sat['dissatisfied']}")]),
            "", f"回访：已答复 {followups['answered']}，未应答 {followups['no_answer']}，"
                f"等待答复 {followups['awaiting_answer']}。", "",
            f"未诉先办：主动发现 {f.rates.proactive['cases']} 件，已办结 {f.rates.proactive['done']} 件（不计入三率）。", "",
            "口径：响应率看本周期受理的工单是否在响应时限内有人接单、办结或写进展（还没到时限的不计入）；"
            "解决率和满意率看本周期内结束的回访，没答复的回访不算满意。"]


def _overdue_section(f: Figures, config: ReportConfig) -> list[str]:
    lines = ["## 三、超期未办结工单", ""]
    if not f.overdue_total:
        return lines + [f"截至 {format_moment(f.as_of, f.zone)} 没有超期未办结的工单。"]
    ageing = [sum(n for (bucket, _), n in f.overdue_ageing.items() if bucket == i)
              for i in range(len(config.overdue_ageing_days) + 1)]
    lines += [f"截至 {format_moment(f.as_of, f.zone)} 共 **{f.overdue_total}** 件（含本周期以前受理的）。按超期时长："
              + "，".join(f"{label} {n} 件" for label, n in zip(config.ageing_labels(), ageing)) + "。", "",
              *_table(("工单号", "类别", "地点", "承办单位", "办理时限", "已超期", "状态"),
                      [(t.id, config.category(t.category), place_label(t.community, t.building, config),
                        t.handler_name or "", format_moment(t.deadline, f.zone), overdue_for(f.as_of, t.deadline),
                        config.statuses.get(t.status, t.status)) for t in f.overdue])]
    if f.overdue_total > len(f.overdue):
        lines += ["", f"另有 {f.overdue_total - len(f.overdue)} 件未列出（超期最久的排在前面）。"]
    return lines


def _high_frequency_section(f: Figures, config: ReportConfig) -> list[str]:
    def block(title: str, what: str, found: HighFrequency, header: tuple, row: Callable[[Count], tuple]) -> list[str]:
        lines = [f"### {title}（本周期 ≥ {found.threshold} 件）", ""]
        if not found.total:
            return lines + [f"本周期没有达到 {found.threshold} 件的{what}。", ""]
        lines += _table(header, [row(c) for c in found.entries])
        if found.total > len(found.entries):
            lines += ["", f"共 {found.total} 个{what}达到，列出前 {len(found.entries)} 个。"]
        return lines + [""]

    trend = ("本周期", "上一周期", "变化")
    return ["## 四、高频诉求", "",
            *block("高频诉求地", "楼栋", f.places, ("楼栋", *trend),
                   lambda c: (place_label(c.key[0], c.key[1], config), c.now, c.before, _signed(c.change))),
            *block("高频诉求事", "类别", f.kinds, ("类别", *trend),
                   lambda c: (config.category(c.key[0]), c.now, c.before, _signed(c.change))),
            *block("高频诉求人", "反映人", f.people, ("反映人（已脱敏）", *trend, "本周期工单"),
                   lambda c: (config.reporter(*c.key), c.now, c.before, _signed(c.change), "、".join(c.tickets)))]


CSV_HEADER = ("工单号", "受理时间", "类别", "社区", "楼号", "单元", "房号", "联系电话", "反映人", "来源",
              "承办单位类型", "承办单位", "处理层级", "办理时限", "状态", "是否超期", "合并至", "问题描述")


def write_tickets(engine, figures: Figures, config: ReportConfig, path: Path, batch: int = 2000) -> Path:
    """The period's tickets, oldest first, streamed from the database in batches."""
    start, end = figures.period.bounds(figures.zone)
    scope = [Ticket.community == figures.community] if figures.community else []
    query = (select(Ticket.id, Ticket.created_at, Ticket.category, Ticket.community, Ticket.building, Ticket.unit,
                    Ticket.room, Ticket.phone, Ticket.reporter_channel, Ticket.reporter_id, Ticket.source,
                    Ticket.handler_kind, Ticket.handler_name, Ticket.tier, Ticket.deadline, Ticket.status,
                    Ticket.merged_into, Ticket.description)
             .where(*scope, Ticket.created_at >= start, Ticket.created_at < end)
             .order_by(Ticket.created_at, Ticket.id))
    with path.open("w", encoding="utf-8-sig", newline="") as out, engine.connect() as connection:
        writer = csv.writer(out)
        writer.writerow(CSV_HEADER)
        result = connection.execution_options(stream_results=True, max_row_buffer=batch).execute(query)
        for rows in result.partitions(batch):
            writer.writerows(_csv_row(t, figures, config) for t in rows)
    return path


def _csv_row(t, figures: Figures, config: ReportConfig) -> tuple:
    late = t.status in OPEN_VALUES and t.deadline is not None and t.deadline < figures.as_of
    return (t.id, format_moment(t.created_at, figures.zone), config.category(t.category), t.community or "",
            t.building or "", t.unit or "", mask_room(t.room) or "", mask_phone(t.phone) or "",
            config.reporter(t.reporter_channel, t.reporter_id), config.sources.get(t.source, t.source),
            config.handler_kinds.get(t.handler_kind, t.handler_kind or ""), t.handler_name or "",
            config.tiers.get(t.tier, t.tier or ""), format_moment(t.deadline, figures.zone), config.statuses.get(t.status, t.status),
            "是" if late else "否", t.merged_into or "", mask_text(t.description))
