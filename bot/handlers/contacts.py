"""The handlers file (``LINLI_HANDLERS_FILE``, default bot/data/handlers.yml): who receives each
handler's tickets, on which channel and when (its comments document the fields).

Read again whenever the file changes, so ``linli handlers add`` reaches a running scheduler and
action server at their next look; a file broken by a hand edit keeps the last good list and says so
in the log rather than silence every dispatch.
"""
from __future__ import annotations

import logging
import os
import tempfile
import threading
from dataclasses import dataclass
from datetime import datetime, time
from pathlib import Path
from typing import Iterable, Mapping, Optional
from zoneinfo import ZoneInfo

import yaml

from bot.config.staff import file_stamp
from bot.core.errors import PlainUserError
from bot.core.settings import PACKAGE_DATA, env

log = logging.getLogger(__name__)

CHANNELS = ("wecom", "linli_telegram", "wechat", "rest")


class HandlersFileError(PlainUserError):
    """The handlers file, or a change to it, makes no sense; the message says why, in Chinese."""


@dataclass(frozen=True)
class Contact:
    """One person or desk who receives a handler's tickets."""

    handler: str
    channel: str
    id: str
    name: str = ""
    hours: Optional[tuple[time, time]] = None
    night: bool = False

    @property
    def key(self) -> tuple[str, str]:
        return self.channel, self.id

    @property
    def label(self) -> str:
        """How the history names them: "首华物业（客服值班）"."""
        return f"{self.handler}（{self.name}）" if self.name else self.handler

    def on_duty(self, moment: datetime, zone: ZoneInfo) -> bool:
        if self.hours is None:
            return True
        start, end = self.hours
        local = moment.astimezone(zone).time()
        return start <= local < end if start <= end else (local >= start or local < end)

    def as_yaml(self) -> dict:
        entry: dict = {"channel": self.channel, "id": self.id}
        if self.name:
            entry["name"] = self.name
        if self.hours:
            entry["hours"] = f"{self.hours[0]:%H:%M}-{self.hours[1]:%H:%M}"
        if self.night:
            entry["night"] = True
        return entry


def handlers_file() -> Path:
    return Path(env("HANDLERS_FILE", str(PACKAGE_DATA / "handlers.yml")))


def _hours(value, where: str) -> Optional[tuple[time, time]]:
    if value in (None, ""):
        return None
    try:
        start, end = (time.fromisoformat(part.strip()) for part in str(value).split("-"))
    except ValueError:
        raise HandlersFileError(f"值班时间“{value}”看不懂（{where}），请写成 08:00-20:00。") from None
    return start, end


def contact_of(handler: str, entry) -> Contact:
    if not isinstance(entry, dict) or not entry.get("channel") or not entry.get("id"):
        raise HandlersFileError(f"{handler}的联系人要写明渠道和账号。")
    channel = str(entry["channel"])
    if channel not in CHANNELS:
        raise HandlersFileError(f"{handler}的联系人渠道“{channel}”不对，可选：{'、'.join(CHANNELS[:3])}。")
    return Contact(handler, channel, str(entry["id"]), str(entry.get("name") or ""),
                   _hours(entry.get("hours"), f"{handler} {channel}:{entry['id']}"), bool(entry.get("night", False)))


def load_handlers(path: Path | None = None) -> dict[str, tuple[Contact, ...]]:
    """Handler name → its contacts in the file's order; a broken file raises with the reason."""
    path = Path(path or handlers_file())
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else {}
    found: dict[str, tuple[Contact, ...]] = {}
    for entry in (raw or {}).get("handlers") or ():
        name = str((entry or {}).get("name") or "").strip()
        if not name:
            raise HandlersFileError("承办单位要写明名称（name）。")
        if name in found:
            raise HandlersFileError(f"承办单位“{name}”写了两次。")
        contacts = tuple(contact_of(name, c) for c in entry.get("contacts") or ())
        keys = [c.key for c in contacts]
        if len(set(keys)) != len(keys):
            raise HandlersFileError(f"{name}的联系人有重复。")
        found[name] = contacts
    return found


def save_handlers(handlers: Mapping[str, Iterable[Contact]], path: Path) -> None:
    """Rewrites the list under the file's own header comment, atomically (readers never see half)."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    lines = text.splitlines(keepends=True)
    header = "".join(lines[:next((i for i, line in enumerate(lines) if line.strip() and not line.startswith("#")),
                                 len(lines))])
    body = "handlers:\n"
    for name, contacts in handlers.items():
        body += f"- name: {name}\n  contacts:\n"
        body += "".join(f"  - {yaml.safe_dump(c.as_yaml(), allow_unicode=True, default_flow_style=True, sort_keys=False, width=1000).strip()}\n"
                        for c in contacts)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".handlers-", suffix=".yml")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(header + body)
    os.replace(temporary, path)


class HandlersFile:
    """The handlers file as it is now, re-read when it changes."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._handlers = load_handlers(self.path)
        self._stamp = file_stamp(self.path)

    def handlers(self) -> dict[str, tuple[Contact, ...]]:
        stamp = file_stamp(self.path)
        if stamp != self._stamp:
            with self._lock:
                if stamp != self._stamp:
                    try:
                        self._handlers = load_handlers(self.path)
                    except (OSError, HandlersFileError, yaml.YAMLError) as error:
                        log.error("handlers file %s: %s; keeping the list read before", self.path, error)
                    self._stamp = stamp
        return self._handlers


_files: dict[str, HandlersFile] = {}
_files_lock = threading.Lock()


def current(path: Path | None = None) -> HandlersFile:
    """This process's view of the handlers file (default ``LINLI_HANDLERS_FILE``)."""
    key = str(Path(path or handlers_file()))
    with _files_lock:
        if key not in _files:
            _files[key] = HandlersFile(Path(key))
        return _files[key]


def contacts_for(handler_key: str, path: Path | None = None) -> tuple[Contact, ...]:
    """Everyone who receives the tickets of the handler named ``handler_key`` (as tickets and
    directory.yml name it), in the file's order; empty when the file lists nobody for it."""
    return current(path).handlers().get((handler_key or "").strip(), ())


def to_reach(contacts: Iterable[Contact], moment: datetime, zone: ZoneInfo,
             emergency: bool) -> tuple[tuple[Contact, ...], tuple[Contact, ...]]:
    """(who to try in turn until one is reached, who to tell as well). Day contacts on duty come
    first, then those off duty. An emergency also goes to every night contact at once, and then
    off-duty desks are not woken: only day contacts on duty are tried. A handler listing night
    contacts only has its ordinary notices tried on those."""
    contacts = tuple(contacts)
    day = [c for c in contacts if not c.night] or list(contacts)
    on_duty = [c for c in day if c.on_duty(moment, zone)]
    night = tuple(c for c in contacts if c.night and c not in day) if emergency else ()
    if night:
        return tuple(on_duty), night
    return tuple(on_duty + [c for c in day if c not in on_duty]), ()


def is_contact(handler_key: str, channel: str, sender_id: str, path: Path | None = None) -> bool:
    """Whether this verified identity receives the handler's tickets: the only people who may sign
    for, return or report back on them."""
    return any(c.key == (channel, sender_id) for c in contacts_for(handler_key, path))
