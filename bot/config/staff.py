"""The staff file (``LINLI_STAFF_FILE``, default bot/data/staff.yml): community staff by platform id, the
communities they serve and which notices they get. Read and written here; mirrored into the database
by bot.people.roster.
"""
from __future__ import annotations

import logging
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional

import yaml

from bot.config.files import ConfigError, read_yaml
from bot.core.settings import PACKAGE_DATA, env

log = logging.getLogger(__name__)


# -- the staff roster ------------------------------------------------------------------------------

class StaffFileError(ValueError):
    """The staff file or a change to it makes no sense; ``user_message`` says why, in Chinese."""

    def __init__(self, detail: str, user_message: str | None = None) -> None:
        super().__init__(detail)
        self.user_message = user_message or detail


@dataclass(frozen=True)
class StaffMember:
    """One entry of the staff file (its comments document the fields)."""

    channel: str
    id: str
    name: str = ""
    communities: tuple[str, ...] = ()
    handlers: tuple[str, ...] = ()
    digest: bool = False
    notices: bool = True

    @property
    def key(self) -> tuple[str, str]:
        return self.channel, self.id

    def as_yaml(self) -> dict:
        entry: dict[str, object] = {"channel": self.channel, "id": self.id}
        entry.update({k: v for k, v in (("name", self.name), ("communities", list(self.communities)),
                                        ("handlers", list(self.handlers))) if v})
        if self.digest:
            entry["digest"] = True
        if not self.notices:
            entry["notices"] = False
        return entry


def staff_file() -> Path:
    return Path(env("STAFF_FILE", str(PACKAGE_DATA / "staff.yml")))


def member_of(entry, directory) -> StaffMember:
    if not isinstance(entry, dict) or not entry.get("channel") or not entry.get("id"):
        raise StaffFileError(f"staff entry without channel and id: {entry!r}", "工作人员要写明渠道和账号。")
    communities = []
    for named in entry.get("communities") or ():
        found = directory.find_community(str(named))
        if found is None:
            raise StaffFileError(f"unknown community {named!r} for {entry['channel']}:{entry['id']}",
                                 f"没有“{named}”这个社区，可选：{'、'.join(c.name for c in directory.communities)}。")
        communities.append(found.name)
    return StaffMember(str(entry["channel"]), str(entry["id"]), str(entry.get("name") or ""),
                       tuple(dict.fromkeys(communities)), tuple(str(h) for h in entry.get("handlers") or ()),
                       bool(entry.get("digest", False)), bool(entry.get("notices", True)))


def load_staff(path: Path | None = None, directory=None) -> tuple[StaffMember, ...]:
    """The roster, communities as the directory names them; a broken file raises with the reason."""
    from bot.config.directory import get_directory

    path = Path(path or staff_file())
    raw = read_yaml(path) or {}
    members = tuple(member_of(entry, directory or get_directory()) for entry in raw.get("staff") or ())
    keys = [m.key for m in members]
    duplicated = {k for k in keys if keys.count(k) > 1}
    if duplicated:
        raise StaffFileError(f"{path}: listed twice: {sorted(duplicated)}")
    return members


def save_staff(members: Iterable[StaffMember], path: Path) -> None:
    """Rewrites the roster under the file's own header comment, atomically (readers never see half)."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    header = "".join(line for line in text.splitlines(keepends=True)[:_header_length(text)])
    body = "staff:\n" + "".join(f"- {yaml.safe_dump(m.as_yaml(), allow_unicode=True, sort_keys=False, default_flow_style=True, width=1000).strip()}\n"
                                 for m in members)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".staff-", suffix=".yml")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(header + body)
    os.replace(temporary, path)


def _header_length(text: str) -> int:
    lines = text.splitlines()
    return next((i for i, line in enumerate(lines) if line.strip() and not line.startswith("#")), len(lines))


class StaffFile:
    """The staff file as it is now, read again whenever it changes (`linli staff add` reaches a
    running process at its next look). A file broken by a hand edit keeps the last good roster, and
    says so in the log, rather than silence every notice. ``stamp`` tells readers that keep
    something derived (the database's roles, the notice recipients) when to redo it."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._members = load_staff(self.path)
        self.stamp = file_stamp(self.path)

    def members(self) -> tuple[StaffMember, ...]:
        stamp = file_stamp(self.path)
        if stamp != self.stamp:
            with self._lock:
                if stamp != self.stamp:
                    try:
                        self._members = load_staff(self.path)
                    except (OSError, StaffFileError, ConfigError) as error:
                        log.error("staff file %s: %s; keeping the staff read before", self.path, error)
                    self.stamp = stamp
        return self._members


def file_stamp(path: Path) -> Optional[tuple[int, int]]:
    """(modification time, size) of a file, or None when it is missing: enough to see an edit."""
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_mtime_ns, info.st_size
