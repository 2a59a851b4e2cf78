"""Terminal views of tickets for staff (rich tables)."""
from __future__ import annotations

from typing import Iterable
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.table import Table

from bot.core.settings import get_settings
from bot.tickets.views import TicketView


def _console() -> Console:
    """Full width when piped, so ids and names are never cut in a file or another program."""
    import sys

    return Console() if sys.stdout.isatty() else Console(width=200)


def _local(moment) -> str:
    return moment.astimezone(ZoneInfo(get_settings().timezone)).strftime("%m-%d %H:%M") if moment else "-"


def _place(ticket: TicketView) -> str:
    parts = [ticket.community or "", f"{ticket.building}号楼" if ticket.building else "",
             f"{ticket.unit}单元" if ticket.unit else ""]
    return " ".join(p for p in parts if p)


def print_ticket_list(tickets: Iterable[TicketView], console: Console | None = None) -> None:
    table = Table("工单号", "类别", "地点", "承办", "状态", "时限")
    for t in tickets:
        table.add_row(t.id, t.category, _place(t), t.handler_name or "-", t.status, _local(t.deadline))
    (console or _console()).print(table)


def print_ticket(ticket: TicketView, console: Console | None = None) -> None:
    """Staff view: full details, phone masked (staff read the raw number in the handler system)."""
    console = console or _console()
    console.print(f"[bold]{ticket.id}[/bold]  {ticket.category}  {ticket.status}")
    console.print(f"地点：{_place(ticket)} {ticket.masked_room or ''}")
    console.print(f"描述：{ticket.description}")
    console.print(f"电话：{ticket.masked_phone or '未留'}   来源：{ticket.source}")
    console.print(f"承办：{ticket.handler_name}（{ticket.handler_kind}，{ticket.tier}）  时限：{_local(ticket.deadline)}")
    history = Table("时间", "操作人", "动作", "状态", "备注")
    for e in ticket.history:
        history.add_row(_local(e.at), e.actor, e.action, f"{e.from_status or ''}→{e.to_status or ''}", e.note or "")
    console.print(history)


def print_schedule(jobs, limit: int, engine, console: Console | None = None) -> None:
    """Pending jobs, soonest first, and deliveries that failed or never confirmed."""
    from sqlalchemy import func, select

    from bot.core.db import session_scope
    from bot.messaging.delivery import DeliveryRecord

    console = console or _console()
    jobs = sorted(jobs, key=lambda j: (j.next_run is None, j.next_run or 0))
    table = Table("下次运行", "任务", "对象", "任务号")
    for job in jobs[:limit]:
        subject = job.kwargs.get("ticket_id") or job.kwargs.get("sender_id") or ""
        table.add_row(_local(job.next_run), job.target.split(":")[-1], subject, job.id)
    console.print(table)
    with session_scope(engine) as session:
        counts = dict(session.execute(select(DeliveryRecord.status, func.count()).group_by(DeliveryRecord.status)).all())
    console.print(f"共 {len(jobs)} 个待运行任务（显示 {min(limit, len(jobs))} 个）；消息投递：已发 {counts.get('sent', 0)}，"
                  f"失败 {counts.get('failed', 0)}，未确认 {counts.get('sending', 0)}")


def print_callback_list(requests, now, console: Console | None = None) -> None:
    """Call-backs for staff at a terminal: phones masked (the chat notice to the community's staff
    carries the number to call)."""
    from bot.privacy.masks import mask_phone

    table = Table("编号", "社区", "电话", "方便的时间", "约定回电", "状态", "工单")
    for r in requests:
        late = "（超时）" if r.is_overdue(now) else ""
        table.add_row(f"#{r.id}", r.community or "-", mask_phone(r.phone) or "未留", r.preferred_time or "-",
                      _local(r.expected_by) + late, r.status, r.ticket_id or "-")
    (console or _console()).print(table)


def print_callback(request, console: Console | None = None) -> None:
    from bot.privacy.masks import mask_phone

    console = console or _console()
    console.print(f"[bold]回电 #{request.id}[/bold]  {request.status}  {request.community or '-'}  "
                  f"电话：{mask_phone(request.phone) or '未留'}  约定：{_local(request.expected_by)}前")
    history = Table("时间", "操作人", "动作", "备注")
    for step in request.history:
        history.add_row(_local(step.at), step.actor, step.action, step.note or "")
    console.print(history)
