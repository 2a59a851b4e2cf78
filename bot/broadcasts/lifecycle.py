"""A broadcast's life: draft, confirmed (scheduled or sending), done or cancelled."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Optional

from sqlalchemy import func, select, update

from bot.broadcasts.compose import Audience, Draft, check_image, store_image, validate
from bot.broadcasts.errors import BroadcastError
from bot.broadcasts.models import OPEN, VOLUNTEERS, Broadcast, BroadcastRecipient
from bot.config.broadcasts import BroadcastConfig, get_config
from bot.config.directory import Directory
from bot.core.db import session_scope

DELIVER_INTENT, REPORT_INTENT = "EXTERNAL_broadcast", "EXTERNAL_broadcast_report"


@dataclass(frozen=True)
class BroadcastView:
    id: int
    text: str
    image: Optional[str]
    image_channel: Optional[str]
    audience: Audience
    author_channel: str
    author_id: str
    status: str
    send_at: Optional[datetime]
    created_at: datetime
    started_at: Optional[datetime]
    finished_at: Optional[datetime]
    heartbeat_at: Optional[datetime]
    counts: dict = field(default_factory=dict)  # status → people

    @classmethod
    def of(cls, row: Broadcast, counts: Optional[dict] = None) -> "BroadcastView":
        return cls(row.id, row.text, row.image, row.image_channel,
                   Audience(row.audience, row.community, row.building, row.topic), row.author_channel,
                   row.author_id, row.status, row.send_at, row.created_at, row.started_at, row.finished_at,
                   row.heartbeat_at, dict(counts or {}))

    def image_for(self, channel: str, config: BroadcastConfig) -> bool:
        info = config.channels.get(channel)
        return bool(self.image and info and info.images and self.image_channel in (None, channel))


def notice_source(view: "BroadcastView", street: str, config: Optional[BroadcastConfig] = None) -> str:
    """"望园社区通知", "望园社区3号楼 停水停电通知": signs a notice under its text (WeChat's template
    fallback shows only a notice's first characters, so the text comes first)."""
    config = config or get_config()
    audience = view.audience
    place = f"{audience.community or street}{f'{audience.building}号楼' if audience.building else ''}"
    kind = f"{config.topics[audience.topic]}通知" if audience.topic else "通知"
    if audience.kind == VOLUNTEERS:
        kind = f"志愿者{kind}"
    return f"{place} {kind}"


# -- storing and state changes ------------------------------------------------------------------------

def create(engine, draft: Draft, directory: Directory, now: datetime, status: str = "draft",
           config: Optional[BroadcastConfig] = None) -> BroadcastView:
    """Stores a validated broadcast, as a ``draft`` to confirm or straight away ``scheduled``;
    a file image is checked before anything is written."""
    config = config or get_config()
    draft = validate(draft, directory, now, config)
    image, image_channel = draft.image_id, draft.image_channel if draft.image_id else None
    if draft.image_path:
        image = store_image(*check_image(draft.image_path, config))
    audience = draft.audience
    row = Broadcast(text=draft.text, image=image, image_channel=image_channel, audience=audience.kind,
                    community=audience.community, building=audience.building, topic=audience.topic,
                    author_channel=draft.author_channel, author_id=draft.author_id, status=status,
                    send_at=draft.send_at, created_at=now, confirmed_at=now if status == "scheduled" else None)
    with session_scope(engine) as session:
        session.add(row)
        session.flush()
        return BroadcastView.of(row)


def get(engine, broadcast_id) -> Optional[BroadcastView]:
    broadcast_id = _id(broadcast_id)
    with session_scope(engine) as session:
        row = session.get(Broadcast, broadcast_id) if broadcast_id is not None else None
        return BroadcastView.of(row, counts(session, row.id)) if row else None


def listing(engine, limit: int = 20) -> list[BroadcastView]:
    with session_scope(engine) as session:
        rows = session.execute(select(Broadcast).order_by(Broadcast.id.desc()).limit(limit)).scalars().all()
        return [BroadcastView.of(row, counts(session, row.id)) for row in rows]


def report(engine, broadcast_id: int) -> dict:
    """(status, reason, channel) → people: the delivery report's figures."""
    with session_scope(engine) as session:
        rows = session.execute(select(BroadcastRecipient.status, BroadcastRecipient.reason,
                                      BroadcastRecipient.channel, func.count())
                               .where(BroadcastRecipient.broadcast_id == broadcast_id)
                               .group_by(BroadcastRecipient.status, BroadcastRecipient.reason,
                                         BroadcastRecipient.channel))
        return {(status, reason, channel): count for status, reason, channel, count in rows}


def failures(engine, broadcast_id: int, limit: int = 20) -> list[BroadcastRecipient]:
    with session_scope(engine) as session:
        return list(session.execute(select(BroadcastRecipient).where(
            BroadcastRecipient.broadcast_id == broadcast_id, BroadcastRecipient.status == "failed")
            .order_by(BroadcastRecipient.finished_at).limit(limit)).scalars())


def counts(session, broadcast_id: int) -> dict:
    rows = session.execute(select(BroadcastRecipient.status, func.count())
                           .where(BroadcastRecipient.broadcast_id == broadcast_id)
                           .group_by(BroadcastRecipient.status))
    return dict(rows.all())


def _id(value) -> Optional[int]:
    text = str(value if value is not None else "").strip().lstrip("#")
    return int(text) if text.isdigit() and len(text) <= 9 else None


def confirm(engine, broadcast_id, author_channel: str, author_id: str, now: datetime,
            config: Optional[BroadcastConfig] = None) -> BroadcastView:
    """A draft becomes ``scheduled``, once: only its author confirms it, and only while fresh."""
    config = config or get_config()
    view = existing(engine, broadcast_id)
    if (view.author_channel, view.author_id) != (author_channel, author_id):
        raise BroadcastError(f"通知 {view.id} 不是您起草的，请让起草人确认。")
    if view.status != "draft":
        raise BroadcastError(_already(view, "已经确认过了"))
    if view.created_at < now - config.draft_valid:
        raise BroadcastError(f"通知 {view.id} 的预览已经过期，请重新发送命令。")
    with session_scope(engine) as session:
        moved = session.execute(update(Broadcast).where(Broadcast.id == view.id, Broadcast.status == "draft")
                                .values(status="scheduled", confirmed_at=now)).rowcount
    if not moved:
        raise BroadcastError(_already(existing(engine, view.id), "已经确认过了"))
    return existing(engine, view.id)


def cancel(engine, broadcast_id, actor: str, now: datetime) -> BroadcastView:
    """Stops a broadcast from any process: runners check the state before every send; those not
    yet sent are recorded as skipped (cancelled)."""
    view = existing(engine, broadcast_id)
    with session_scope(engine) as session:
        moved = session.execute(update(Broadcast).where(Broadcast.id == view.id, Broadcast.status.in_(OPEN))
                                .values(status="cancelled", cancelled_at=now, cancelled_by=actor)).rowcount
        if moved:
            session.execute(update(BroadcastRecipient).where(BroadcastRecipient.broadcast_id == view.id,
                                                             BroadcastRecipient.status == "pending")
                            .values(status="skipped", reason="cancelled", finished_at=now))
    if not moved:
        raise BroadcastError(_already(existing(engine, view.id), "已经发完，没法取消了"))
    return existing(engine, view.id)


def existing(engine, broadcast_id) -> BroadcastView:
    view = get(engine, broadcast_id)
    if view is None:
        raise BroadcastError(f"没有编号为 {broadcast_id} 的通知。")
    return view


def _already(view: BroadcastView, done: str) -> str:
    """Why a confirmation or a cancel changes nothing: it was cancelled, or ``done`` says what."""
    return f"通知 {view.id} {'已经取消了' if view.status == 'cancelled' else done}。"
