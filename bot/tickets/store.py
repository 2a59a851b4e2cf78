"""The ticket store: creating tickets, their legal status changes and their history — one place for all.

Every write happens in one transaction and appends to the ticket's history, so what a resident
sees ("全流程透明") is exactly what happened, with actor and time.
"""
from __future__ import annotations

import builtins
import math
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterable, Optional
from zoneinfo import ZoneInfo

from sqlalchemy import and_, delete, exists, not_, select, text, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from bot.config.directory import HANDLER_KINDS, Directory, get_directory
from bot.config.service import DuplicatePolicy, duplicate_policy, wording
from bot.core.db import get_engine, session_scope
from bot.core.settings import get_settings
from bot.core.text import format_ticket_id, local_time, parse_phone, parse_ticket_id
from bot.tickets.dispatch import dispatch
from bot.tickets.duplicates import is_milestone, metres_between
from bot.tickets.errors import (
    AlreadyMerged,
    CannotMerge,
    IllegalTransition,
    NoLongerOpen,
    NotAllowed,
    TicketError,
    UnknownTicket,
)
from bot.tickets.masking import kept_private, masked_words
from bot.tickets.models import Ticket, TicketEvent, TicketFollower, overdue_at
from bot.tickets.status import OPEN_STATUSES, TRANSITIONS, S, TicketStatus, status_of
from bot.tickets.views import TicketView, follower_count

#: Longest platform ids seen (WeChat Work user ids are at most 64 characters); columns allow more.
MAX_REPORTER_ID = 64
MAX_CHANNEL = 32
MAX_UNIT_DIGITS, MAX_ROOM_DIGITS = 3, 5


def _clean(value: Optional[str]) -> Optional[str]:
    value = str(value).strip() if value is not None else ""
    return value or None


def _digits(name: str, value: Optional[str], longest: int) -> Optional[str]:
    value = _clean(value)
    if value is not None and not (value.isdigit() and len(value) <= longest):
        raise TicketError(f"invalid {name} {value!r}", wording("refusals", "unit_room_digits"))
    return value


def _coordinates(latitude: Optional[float], longitude: Optional[float]) -> tuple[Optional[float], Optional[float]]:
    if latitude is None and longitude is None:
        return None, None
    return _point(latitude, longitude)


def _point(latitude: Optional[float], longitude: Optional[float]) -> tuple[float, float]:
    if latitude is None or longitude is None:
        raise TicketError("latitude and longitude go together", "位置信息不完整，请重新发送位置。")
    try:
        latitude, longitude = float(latitude), float(longitude)
    except (TypeError, ValueError):
        raise TicketError("latitude and longitude go together", wording("refusals", "location_incomplete")) from None
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise TicketError(f"no such place {latitude},{longitude}", wording("refusals", "location_wrong"))
    return latitude, longitude


def is_response(row: Ticket, event: TicketEvent) -> bool:
    """Whether a history step is the handler responding (响应), for the response rate: signed for
    (签收), work started or done, or a note by staff. Never Linli's own steps nor the reporter's: a resident "resolving"
    their own ticket, or writing "还没人来", is no response. Migration 0004 backfilled
    ``first_response_at`` by this same rule, in SQL."""
    if event.actor in ("linli", f"{row.reporter_channel}:{row.reporter_id}"):
        return False
    return event.action in ("accepted", "in_progress", "resolved") or (event.action == "note" and event.actor.startswith("staff:"))


class TicketStore:
    """Every read and write of tickets. Each method is one transaction; ``clock`` (tz-aware UTC now)
    is injectable so tests and the scheduler can move time."""

    def __init__(self, engine: Engine | None = None, directory: Directory | None = None,
                 clock: Callable[[], datetime] | None = None, duplicates: DuplicatePolicy | None = None) -> None:
        self.engine = engine or get_engine()
        self.directory = directory or get_directory()
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        settings = get_settings()
        self.zone = ZoneInfo(settings.timezone)
        self.duplicates = duplicates or duplicate_policy(str(settings.service_path))

    # -- creating -------------------------------------------------------------------------------

    def create(self, *, category: str, description: str, reporter_channel: str, reporter_id: str,
               community: str | None = None, building: str | None = None, unit: str | None = None,
               room: str | None = None, phone: str | None = None, photos: Iterable[str] = (),
               latitude: float | None = None, longitude: float | None = None, source: str = "resident",
               actor: str | None = None, intake_key: str | None = None) -> TicketView:
        """Records a complaint and dispatches it, all or nothing: a ticket exists only with its
        handler, deadline and history.

        With an ``intake_key`` (the report it comes from) filing is idempotent: the same reporter
        and key give the ticket already filed, however many processes try at once: a confirmation
        retried after its reply or its tracker was lost finds the first ticket. The look-up first
        spares a retry the insert; between processes racing, the unique constraint decides."""
        fields = self._validated(category, description, community, building, unit, room, phone, source)
        fields.update(self._reporter(reporter_channel, reporter_id), photos=self._photos(photos))
        fields["latitude"], fields["longitude"] = _coordinates(latitude, longitude)
        if intake_key is not None:
            fields["intake_key"] = self._intake_key(intake_key)
            filed = self._filed(fields)
            if filed:
                return self.get_known(filed)
        try:
            return self.get_known(self._insert(fields, actor))
        except IntegrityError:
            filed = self._filed(fields) if intake_key is not None else None
            if filed is None:
                raise
            return self.get_known(filed)

    @staticmethod
    def _intake_key(key: str) -> str:
        cleaned = _clean(key)
        if not cleaned or len(cleaned) > 64:
            raise TicketError(f"bad intake key {cleaned!r}")
        return cleaned

    def _filed(self, fields: dict) -> Optional[str]:
        """The ticket already filed from this reporter's report, if any."""
        with session_scope(self.engine) as session:
            return session.execute(select(Ticket.id).where(
                Ticket.reporter_channel == fields["reporter_channel"], Ticket.reporter_id == fields["reporter_id"],
                Ticket.intake_key == fields["intake_key"])).scalar()

    def _insert(self, fields: dict, actor: str | None) -> str:
        now = self.clock()
        routed = dispatch(self.directory, fields["category"], fields["community"], fields["building"],
                          fields["description"], now)
        actor = actor or f"{fields['reporter_channel']}:{fields['reporter_id']}"
        with session_scope(self.engine) as session:
            ticket_id = self._next_id(session, now)
            session.add(Ticket(id=ticket_id, **fields, handler_kind=routed.handler_kind,
                               handler_name=routed.handler_name, tier=routed.tier,
                               deadline_class=routed.deadline_class, deadline=routed.deadline,
                               status=S.DISPATCHED.value, created_at=now, updated_at=now))
            session.flush()
            session.add_all([
                TicketEvent(ticket_id=ticket_id, at=now, actor=actor, action="created",
                            to_status=S.NEW.value, note=None),
                TicketEvent(ticket_id=ticket_id, at=now, actor="linli", action="dispatched",
                            from_status=S.NEW.value, to_status=S.DISPATCHED.value,
                            note=f"派给{routed.handler_name}（{self.directory.service.tiers[routed.tier]}）"),
            ])
        return ticket_id

    def _validated(self, category, description, community, building, unit, room, phone, source) -> dict:
        service = self.directory.service
        if category not in service.categories:
            raise TicketError(f"unknown category {category}", "没有这个问题类别，请换个说法说说是什么问题。")
        description = description.strip() if isinstance(description, str) else ""
        if not description:
            raise TicketError("empty description", "请简单说说是什么问题。")
        if len(description) > service.description_max_chars:
            raise TicketError("description too long",
                              f"描述太长了，请控制在{service.description_max_chars}字以内。")
        if source not in ("resident", "volunteer", "proactive"):
            raise TicketError(f"unknown source {source}")
        community = _clean(community) or self.directory.single_community()
        found = self.directory.find_community(community) if community else None
        if community and not found:
            raise TicketError(f"unknown community {community}", f"我们街道没有“{community}”这个社区，请核对一下。")
        building = _clean(building)
        if building:
            if not found:
                raise TicketError(f"building {building} without a community", "请先告诉我是哪个社区。")
            if not self.directory.building(found.name, building):
                raise TicketError(f"unknown building {found.name} {building}",
                                  f"{found.name}没有{building}号楼，请核对楼号。")
        if phone and not parse_phone(phone):
            raise TicketError(f"invalid phone {phone!r}", "手机号格式不对，请发11位手机号。")
        description, phone = kept_private(description, parse_phone(phone) if phone else None)
        return {"category": category, "description": description,
                "community": found.name if found else None, "building": building,
                "unit": _digits("unit", unit, MAX_UNIT_DIGITS), "room": _digits("room", room, MAX_ROOM_DIGITS),
                "phone": phone, "source": source}

    @staticmethod
    def _reporter(channel: str, sender_id: str) -> dict:
        clean_channel, clean_id = _clean(channel), _clean(sender_id)
        if not clean_channel or not clean_id or len(clean_channel) > MAX_CHANNEL or len(clean_id) > MAX_REPORTER_ID:
            raise TicketError(f"bad reporter {clean_channel}:{clean_id}")
        return {"reporter_channel": clean_channel, "reporter_id": clean_id}

    def _photos(self, photos: Iterable[str]) -> list[str]:
        photos = [str(p).strip() for p in photos or ()]
        limit = self.directory.service.photos_max
        if any(not p for p in photos):
            raise TicketError("empty photo reference", "照片没有收到，请再发一次。")
        if len(photos) > limit:
            raise TicketError(f"{len(photos)} photos", f"照片最多{limit}张，请挑最能说明问题的几张。")
        return photos

    def _next_id(self, session, now: datetime) -> str:
        """Atomic on SQLite (3.35+) and PostgreSQL alike: the upsert locks the day's row until the
        ticket is committed, so ids are unique and, since a failed create rolls it back, gapless."""
        day = now.astimezone(self.zone).strftime("%Y%m%d")
        last = session.execute(text(
            "INSERT INTO ticket_sequences (day, last) VALUES (:day, 1) "
            "ON CONFLICT (day) DO UPDATE SET last = ticket_sequences.last + 1 RETURNING last"),
            {"day": day}).scalar_one()
        if last > 9999:
            raise TicketError("daily sequence exhausted", "今天的工单太多了，请稍后再试或拨打12345。")
        return format_ticket_id(day, last)

    # -- reading --------------------------------------------------------------------------------

    def get(self, ticket_id: Optional[str]) -> Optional[TicketView]:
        """The ticket, however its id was typed ("gd2026…"); None for unknown or malformed ids."""
        ticket_id = parse_ticket_id(ticket_id)
        if ticket_id is None:
            return None
        with session_scope(self.engine) as session:
            row = session.get(Ticket, ticket_id)
            return TicketView.of(row) if row else None

    def get_known(self, ticket_id: str) -> TicketView:
        """A ticket known to exist (just filed or changed): tickets are never deleted, so it is there."""
        ticket = self.get(ticket_id)
        if ticket is None:
            raise UnknownTicket(ticket_id)
        return ticket

    def get_for_reporter(self, ticket_id: str, channel: str, sender_id: str) -> TicketView:
        """A resident sees only their own tickets (and those they follow)."""
        ticket = self.get(ticket_id)
        if ticket is None:
            raise UnknownTicket(ticket_id)
        if (ticket.reporter_channel, ticket.reporter_id) != (channel, sender_id) and \
                not self.is_follower(ticket.id, channel, sender_id):
            raise NotAllowed(f"{channel}:{sender_id} may not read {ticket.id}")
        return ticket

    def is_follower(self, ticket_id: str, channel: str, sender_id: str) -> bool:
        with session_scope(self.engine) as session:
            return session.get(TicketFollower, (ticket_id, channel, sender_id)) is not None

    def latest_for_reporter(self, channel: str, sender_id: str) -> Optional[TicketView]:
        """The ticket the sender last reported, or last joined as a follower if that came later."""
        with session_scope(self.engine) as session:
            own = session.execute(select(Ticket.created_at, Ticket.id).where(
                Ticket.reporter_channel == channel, Ticket.reporter_id == sender_id)
                .order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(1)).first()
            followed = session.execute(select(TicketFollower.added_at, TicketFollower.ticket_id).where(
                TicketFollower.channel == channel, TicketFollower.sender_id == sender_id)
                .order_by(TicketFollower.added_at.desc()).limit(1)).first()
            latest = max(filter(None, (own, followed)), default=None)
            return TicketView.of(session.get(Ticket, latest[1])) if latest else None

    def reported_by(self, channel: str, sender_id: str) -> list[str]:
        """The ids of every ticket the sender reported or joined as a follower, newest first (by
        when they reported or joined)."""
        with session_scope(self.engine) as session:
            own = session.execute(select(Ticket.created_at, Ticket.id).where(
                Ticket.reporter_channel == channel, Ticket.reporter_id == sender_id)).all()
            followed = session.execute(select(TicketFollower.added_at, TicketFollower.ticket_id).where(
                TicketFollower.channel == channel, TicketFollower.sender_id == sender_id)).all()
        return list(dict.fromkeys(ticket_id for _, ticket_id in sorted((*own, *followed), reverse=True)))

    def list(self, status: str | None = None, community: str | None = None, overdue: bool | None = None,
             limit: int = 50, handlers: Iterable[str] = ()) -> list[TicketView]:
        """Newest first. ``overdue``: True only open tickets past their deadline, False the others;
        ``handlers``: only tickets dispatched to these."""
        query = select(Ticket).order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(max(int(limit), 0))
        if handlers:
            query = query.where(Ticket.handler_name.in_(list(handlers)))
        if status:
            query = query.where(Ticket.status == status_of(status).value)
        if community:
            found = self.directory.find_community(community)
            query = query.where(Ticket.community == (found.name if found else community))
        if overdue is not None:
            late = overdue_at(self.clock())
            query = query.where(late if overdue else not_(late))
        with session_scope(self.engine) as session:
            return [TicketView.of(row) for row in session.execute(query).scalars()]

    # -- duplicates, followers and merging ------------------------------------------------------

    def _open_of_kind(self, category: str, since_days: float, excluding: tuple[str, str] | None = None):
        """Open, unmerged tickets of one category created in the last ``since_days``; ``excluding``
        (channel, sender id) leaves out what that person reported or follows already."""
        query = select(Ticket).where(Ticket.category == category,
                                     Ticket.created_at >= self.clock() - timedelta(days=since_days),
                                     Ticket.status.in_([s.value for s in OPEN_STATUSES]), Ticket.merged_into.is_(None))
        if excluding:
            channel, sender_id = excluding
            follows = exists().where(TicketFollower.ticket_id == Ticket.id, TicketFollower.channel == channel,
                                     TicketFollower.sender_id == sender_id)
            query = query.where(not_(and_(Ticket.reporter_channel == channel, Ticket.reporter_id == sender_id)),
                                not_(follows))
        return query

    def open_for_building(self, category: str, community: str, building: str, since_days: float,
                          excluding: tuple[str, str] | None = None, limit: int = 20) -> builtins.list[TicketView]:
        """Open tickets of the same kind at the same building, oldest first."""
        found = self.directory.find_community(community)
        query = self._open_of_kind(category, since_days, excluding).where(
            Ticket.community == (found.name if found else community), Ticket.building == str(building))
        with session_scope(self.engine) as session:
            rows = session.execute(query.order_by(Ticket.created_at).limit(limit)).scalars()
            return [TicketView.of(row) for row in rows]

    def open_near(self, category: str, latitude: float, longitude: float, within_metres: float,
                  since_days: float, excluding: tuple[str, str] | None = None, limit: int = 20) -> builtins.list[TicketView]:
        """Open tickets of the same kind reported with a map location this close, nearest first.
        A bounding box narrows the rows in SQL; the exact distance is checked here."""
        point = _point(latitude, longitude)
        degrees = within_metres / 111_320
        wide = degrees / max(math.cos(math.radians(point[0])), 0.01)
        query = self._open_of_kind(category, since_days, excluding).where(
            Ticket.latitude.between(point[0] - degrees, point[0] + degrees),
            Ticket.longitude.between(point[1] - wide, point[1] + wide))
        with session_scope(self.engine) as session:
            places = session.execute(query.with_only_columns(Ticket.id, Ticket.latitude, Ticket.longitude))
            near = sorted((metres_between(point, (lat, lon)), ticket_id) for ticket_id, lat, lon in places)
            ids = [ticket_id for distance, ticket_id in near if distance <= within_metres][:limit]
            rows = {row.id: row for row in session.execute(select(Ticket).where(Ticket.id.in_(ids))).scalars()}
            return [TicketView.of(rows[ticket_id]) for ticket_id in ids]

    def find_duplicates(self, category: str, channel: str, sender_id: str, community: str | None = None,
                        building: str | None = None, latitude: float | None = None,
                        longitude: float | None = None) -> builtins.list[TicketView]:
        """Open tickets a new report may be the same problem as: same category, same building or
        (for a map location) close by, recent enough (service.yml ``duplicates``). Tickets the
        sender reported or already follows are left out: they know about those."""
        policy, excluding = self.duplicates, (channel, sender_id)
        found = self.open_for_building(category, community, building, policy.within_days, excluding) \
            if community and building else []
        if latitude is not None and longitude is not None:
            found += self.open_near(category, latitude, longitude, policy.within_metres, policy.within_days, excluding)
        return list({ticket.id: ticket for ticket in found}.values())

    def followers(self, ticket_id: str) -> builtins.list[tuple[str, str]]:
        """(channel, sender id) of everyone following a ticket, earliest first: who else its updates reach."""
        with session_scope(self.engine) as session:
            rows = session.execute(select(TicketFollower.channel, TicketFollower.sender_id)
                                   .where(TicketFollower.ticket_id == parse_ticket_id(ticket_id))
                                   .order_by(TicketFollower.added_at, TicketFollower.channel,
                                             TicketFollower.sender_id))
            return [tuple(row) for row in rows]

    def follow(self, ticket_id: str, channel: str, sender_id: str) -> TicketView:
        """A resident with the same problem joins an open ticket instead of filing another: they
        get its updates, and the count of residents affected raises its priority. A ticket merged
        since it was shown is followed where it went; one no longer open raises ``NoLongerOpen``."""
        person = tuple(self._reporter(channel, sender_id).values())
        canonical = parse_ticket_id(ticket_id)
        if canonical is None:
            raise UnknownTicket(ticket_id)
        with session_scope(self.engine) as session:
            now = self.clock()
            row = self._locked(session, canonical, now)
            if row.merged_into:
                row = self._locked(session, row.merged_into, now)
            if TicketStatus(row.status) not in OPEN_STATUSES:
                raise NoLongerOpen(row.id)
            before = follower_count(session, row.id)
            if self._add_followers(session, row, [person], now):
                if is_milestone(before + 2):
                    session.add(self._event(row, now, f"{person[0]}:{person[1]}", "followed",
                                            f"又有居民反映同一问题，共{before + 2}人反映"))
                self._weigh(session, row, before, before + 1, now)
            followed = row.id
        return self.get_known(followed)

    def merge(self, source_id: str, target_id: str, actor: str) -> TicketView:
        """Staff found two tickets to be one problem: the source closes as ``merged`` pointing at
        the target, its reporter and followers follow the target, and the target's history says so.
        One transaction with both rows locked; anything refused changes nothing."""
        source, target = (parse_ticket_id(i) for i in (source_id, target_id))
        if source is None or target is None:
            raise UnknownTicket(source_id if source is None else target_id)
        if not _clean(actor):
            raise TicketError("no actor", "需要写明是谁操作的。")
        if source == target:
            raise CannotMerge(f"{source} into itself", f"工单 {source} 不能合并到它自己。")
        with session_scope(self.engine) as session:
            now = self.clock()
            rows = {ticket_id: self._locked(session, ticket_id, now) for ticket_id in sorted((source, target))}
            src, dst = rows[source], rows[target]
            self._check_mergeable(src, dst)
            people = [(src.reporter_channel, src.reporter_id)] + [
                (f.channel, f.sender_id) for f in session.execute(
                    select(TicketFollower).where(TicketFollower.ticket_id == src.id)
                    .order_by(TicketFollower.added_at)).scalars()]
            session.execute(delete(TicketFollower).where(TicketFollower.ticket_id == src.id))
            before = follower_count(session, dst.id)
            added = self._add_followers(session, dst, people, now)
            session.add(self._event(src, now, actor, "merged", f"与工单 {dst.id} 是同一问题，已并入该工单",
                                    to_status=S.CLOSED.value))
            src.status, src.merged_into = S.CLOSED.value, dst.id
            session.add(self._event(dst, now, actor, "merge_received",
                                    f"工单 {src.id} 并入本工单，共{before + added + 1}人反映"))
            self._weigh(session, dst, before, before + added, now)
        return self.get_known(target)

    @staticmethod
    def _check_mergeable(src: Ticket, dst: Ticket) -> None:
        for row in (dst, src):
            if row.merged_into:
                raise AlreadyMerged(row.id, row.merged_into)
        if dst.status == S.CLOSED.value:
            raise CannotMerge(f"target {dst.id} is closed", f"工单 {dst.id} 已关闭，不能再把别的工单并进来。")
        if src.status == S.CLOSED.value:
            raise CannotMerge(f"source {src.id} is closed", f"工单 {src.id} 已关闭，不需要合并。")

    @staticmethod
    def _add_followers(session, row: Ticket, people: Iterable[tuple[str, str]], now: datetime) -> int:
        """Adds whoever is neither the ticket's reporter nor already following it; returns how many."""
        added = 0
        for channel, sender_id in dict.fromkeys(people):
            if (channel, sender_id) == (row.reporter_channel, row.reporter_id) or \
                    session.get(TicketFollower, (row.id, channel, sender_id)) is not None:
                continue
            session.add(TicketFollower(ticket_id=row.id, channel=channel, sender_id=sender_id, added_at=now))
            added += 1
        session.flush()
        return added

    def _weigh(self, session, row: Ticket, before: int, after: int, now: datetime) -> None:
        """Many residents with one problem make it a bigger one: when the followers reach the
        configured number, the ticket climbs a tier (once, on crossing it)."""
        threshold = self.duplicates.followers_to_escalate
        if threshold and before < threshold <= after and row.tier != list(self.directory.service.tiers)[-1]:
            session.add(self._event(row, now, "linli", "escalated", self._climbed(row, f"{after + 1}位居民反映同一问题")))

    @staticmethod
    def _event(row: Ticket, now: datetime, actor: str, action: str, note: str, **fields) -> TicketEvent:
        values = {"from_status": row.status, "to_status": row.status, "note": note, **fields}
        return TicketEvent(ticket_id=row.id, at=now, actor=actor, action=action, **values)

    # -- changing -------------------------------------------------------------------------------

    def _locked(self, session, ticket_id: str, now: datetime) -> Ticket:
        """The ticket's row, stamped ``now`` and locked until the transaction ends, so a check and
        the change it allows cannot interleave with another writer's (two staff resolving at once).

        The stamp is the transaction's first statement on purpose: a write first makes SQLite take
        its write lock before anything is read, and PostgreSQL lock the row.
        """
        stamped = session.execute(update(Ticket).where(Ticket.id == ticket_id).values(updated_at=now)
                                  .execution_options(synchronize_session=False))
        if stamped.rowcount == 0:
            raise UnknownTicket(ticket_id)
        return session.get(Ticket, ticket_id)

    def _change(self, ticket_id: str, actor: str, change: Callable[[Ticket, datetime], TicketEvent]) -> TicketView:
        """Applies ``change`` to the locked row and appends the event it returns, in one transaction.
        Every step that can be a response comes through here, so this is where the ticket's
        ``first_response_at`` is set, the first time only."""
        canonical = parse_ticket_id(ticket_id)
        if canonical is None:
            raise UnknownTicket(ticket_id)
        if not _clean(actor):
            raise TicketError("no actor", "需要写明是谁操作的。")
        with session_scope(self.engine) as session:
            now = self.clock()
            row = self._locked(session, canonical, now)
            event = change(row, now)
            event.ticket_id, event.at, event.actor = canonical, now, actor
            event.note = masked_words(event.note)
            event.from_status = event.from_status or row.status
            event.to_status = event.to_status or row.status
            session.add(event)
            if row.first_response_at is None and is_response(row, event):
                row.first_response_at = now
        return self.get_known(canonical)

    def apply(self, ticket_id: str, actor: str, change: Callable[[Ticket, datetime], TicketEvent]) -> TicketView:
        """A change defined by another package (the handler's sign-for and returns) made the way the
        store makes its own: row locked, checked, changed and its history step appended at once."""
        return self._change(ticket_id, actor, change)

    def transition(self, ticket_id: str, to_status: str, actor: str, note: str | None = None,
                   action: str | None = None) -> TicketView:
        """Moves a ticket along a legal transition and records it; anything else changes nothing.

        ``action`` names the step in the history when it says more than the new status (a follow-up
        nobody answered closes the ticket as ``no_answer``). A reopened ticket gets a fresh deadline
        of its class: the handler must be given time to do the work again, and the watch restarts.
        """
        wanted = status_of(to_status)

        def move(row: Ticket, now: datetime) -> TicketEvent:
            if row.merged_into:
                raise AlreadyMerged(row.id, row.merged_into)
            current = TicketStatus(row.status)
            if wanted not in TRANSITIONS[current]:
                raise IllegalTransition(row.id, current.value, wanted.value, self.directory.service.status_labels)
            written = note
            if wanted is S.REOPENED and row.deadline_class:
                row.deadline = now + timedelta(hours=self.directory.service.deadline_classes[row.deadline_class])
                written = "；".join(filter(None, (note, f"重新计时，{self._local(row.deadline)}前办结")))
            row.status = wanted.value
            return TicketEvent(action=action or wanted.value, from_status=current.value, to_status=wanted.value,
                               note=written)

        return self._change(ticket_id, actor, move)

    def add_note(self, ticket_id: str, actor: str, note: str) -> TicketView:
        note = (note or "").strip()
        if not note:
            raise TicketError("empty note", "备注不能为空。")
        return self.record(ticket_id, actor, "note", note[:self.directory.service.description_max_chars])

    def record(self, ticket_id: str, actor: str, action: str, note: str) -> TicketView:
        """A step that changes no status (a reminder sent, a supervisor notified) in the history."""
        return self._change(ticket_id, actor, lambda row, now: TicketEvent(action=action, note=note))

    def escalate(self, ticket_id: str, actor: str, reason: str) -> TicketView:
        """One tier up (小事群里办 → 大事社区办 → 难点街道办); at the street already, the whistle
        is still recorded, since the street is then called in again."""
        return self._change(ticket_id, actor,
                            lambda row, now: TicketEvent(action="escalated", note=self._climbed(row, reason)))

    def _climbed(self, row: Ticket, reason: str) -> str:
        """Moves the row one tier up (or keeps it at the top) and returns the history note."""
        tiers = self.directory.service.tiers
        order = list(tiers)
        position = order.index(row.tier) if row.tier in order else len(order) - 1
        row.tier = order[min(position + 1, len(order) - 1)]
        return f"{reason}，升级至{tiers[row.tier]}（吹哨）"

    def assign(self, ticket_id: str, handler_kind: str, handler_name: str, actor: str) -> TicketView:
        name = _clean(handler_name)
        if handler_kind not in HANDLER_KINDS or not name:
            raise TicketError(f"bad handler {handler_kind}:{name}",
                              "承办单位不对：类型是物业、社区、产权单位或街道科室，还要写明名称。")

        def reassign(row: Ticket, now: datetime) -> TicketEvent:
            previous = row.handler_name
            row.handler_kind, row.handler_name = handler_kind, name
            return TicketEvent(action="assigned", note=f"{previous} → {name}")

        return self._change(ticket_id, actor, reassign)

    def _local(self, moment: datetime) -> str:
        return local_time(moment, self.zone)
