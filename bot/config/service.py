"""Service policy read from service.yml: categories and their routing, tiers, deadlines, wording of
statuses, call-back hours, duplicate reports (see the comments in the file).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any, Optional
from zoneinfo import ZoneInfo

from bot.config.files import cached, read_yaml
from bot.core.settings import get_settings


@dataclass(frozen=True)
class DuplicatePolicy:
    """When a new report is offered an open ticket as "the same problem", and when the residents
    following a ticket raise it a tier (service.yml `duplicates`, documented there)."""

    within_days: float
    within_metres: float
    followers_to_escalate: int

    @classmethod
    def load(cls, path: Path | str) -> "DuplicatePolicy":
        raw = read_yaml(path) or {}
        try:
            section = raw["duplicates"]
            policy = cls(float(section["within_days"]), float(section["within_metres"]),
                         int(section["followers_to_escalate"]))
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"{path}: missing or malformed duplicates setting: {error}") from error
        if policy.within_days <= 0 or policy.within_metres <= 0 or policy.followers_to_escalate < 0:
            raise ValueError(f"{path}: duplicates: within_days and within_metres must be positive, "
                             "followers_to_escalate 0 (never) or more")
        return policy


@cached
def duplicate_policy(path: str) -> DuplicatePolicy:
    return DuplicatePolicy.load(path)


@dataclass(frozen=True)
class Category:
    code: str
    label: str
    deadline_class: str
    tier: str
    route: str
    location: tuple[str, ...]


def _route_ok(route: str) -> bool:
    return route in ("building", "community") or (route.startswith("department:") and len(route) > 11)


@dataclass(frozen=True)
class CallbackPolicy:
    """When staff call back after "转人工": once ``within_hours`` of working time (between opening
    and closing on working days) have passed, counted from the request or from the next opening."""

    opens: time
    closes: time
    working_days: frozenset[int]  # ISO weekdays, Monday = 1
    within_hours: float

    @classmethod
    def of(cls, raw: dict) -> "CallbackPolicy":
        opens, closes = (time.fromisoformat(t) for t in raw["working_hours"])
        policy = cls(opens, closes, frozenset(int(d) for d in raw["working_days"]), float(raw["within_hours"]))
        if not (opens < closes and policy.working_days and policy.working_days <= set(range(1, 8))
                and policy.within_hours > 0):
            raise ValueError("callback: working_hours must open before closing, working_days be ISO "
                             "weekdays 1-7 and within_hours be positive")
        return policy

    def expected_by(self, now: datetime, zone: ZoneInfo) -> datetime:
        """A promise staff can keep: a request at 17:00 is due at 10:00 the next working day (half
        an hour today, an hour and a half tomorrow), not at closing time."""
        left = timedelta(hours=self.within_hours)
        moment = now.astimezone(zone)
        while True:
            start = max(moment, datetime.combine(moment.date(), self.opens, zone))
            end = datetime.combine(moment.date(), self.closes, zone)
            if moment.isoweekday() in self.working_days and start < end:
                if start + left <= end:
                    return (start + left).astimezone(timezone.utc)
                left -= end - start
            moment = datetime.combine(moment.date() + timedelta(days=1), self.opens, zone)


@dataclass(frozen=True)
class Emergency:
    """A kind of emergency (service.yml ``emergencies``): the words that show it, the categories
    they fit (empty: any), and the deadline class it gives a ticket."""

    kind: str
    words: tuple[str, ...]
    categories: tuple[str, ...]
    deadline_class: str
    category: Optional[str] = None  # the category such a report is filed under, whatever else it mentions

    def fits(self, category: Optional[str], description: str) -> bool:
        if self.categories and category not in self.categories:
            return False
        return not self.words or any(word in description for word in self.words)

    @classmethod
    def of(cls, kind: str, raw: dict) -> "Emergency":
        return cls(kind, tuple(raw.get("words", ())), tuple(raw.get("categories", ())),
                   raw.get("deadline_class", "emergency"), raw.get("category"))


@dataclass(frozen=True)
class ServiceConfig:
    """Policy read from service.yml (see the comments there)."""

    categories: dict
    deadline_classes: dict
    emergencies: dict
    tiers: dict
    unlocated_route: str
    status_labels: dict
    answer_labels: dict  # follow-up answer code → label
    typed_answers: dict  # follow-up answer code → words a typed answer is read by, in the order checked
    ticket_list_words: tuple[str, ...]  # a status question with one of these lists the sender's tickets
    ticket_list_page: int
    event_labels: dict
    resident_notes: tuple[str, ...]  # history steps whose note a resident may read; others: the label
    description_max_chars: int
    photos_max: int
    category_min_confidence: float
    rider_own_categories: tuple[str, ...]  # riders' own problems (小哥说事): no photo asked
    guess_min_chars: int  # a report's opening words this long are filed under the best guess
    field_words: dict  # form field → words that name it in an answer ("电话就算了")
    cancel_words: tuple[str, ...]
    confirm_words: tuple[str, ...]
    decline_words: tuple[str, ...]
    grid_worker_words: tuple[str, ...]
    answered_in_place: tuple[str, ...]
    callback: CallbackPolicy

    @classmethod
    def load(cls, path: Path) -> "ServiceConfig":
        raw = read_yaml(path)
        try:
            config = cls(
                categories={code: Category(code=code, label=c["label"], deadline_class=c["deadline_class"],
                                           tier=c["tier"], route=c["route"], location=tuple(c.get("location", ())))
                            for code, c in raw["categories"].items()},
                deadline_classes={name: float(hours) for name, hours in raw["deadline_classes"].items()},
                emergencies={kind: Emergency.of(kind, e) for kind, e in (raw.get("emergencies") or {}).items()},
                tiers=raw["tiers"],
                unlocated_route=raw["unlocated_route"],
                status_labels=raw["status_labels"], answer_labels=dict(raw["answer_labels"]),
                typed_answers={code: tuple(words) for code, words in (raw.get("typed_answers") or {}).items()},
                ticket_list_words=tuple((raw.get("ticket_list") or {}).get("words", ())),
                ticket_list_page=int((raw.get("ticket_list") or {}).get("page_size", 5)),
                event_labels=raw["event_labels"],
                resident_notes=tuple(raw.get("resident_notes", ())),
                description_max_chars=int(raw["description_max_chars"]), photos_max=int(raw["photos_max"]),
                category_min_confidence=float(raw["category_min_confidence"]),
                rider_own_categories=tuple((raw.get("riders") or {}).get("own_categories", ())),
                guess_min_chars=int(raw.get("guess_min_chars", 10)),
                field_words={name: tuple(words) for name, words in (raw.get("field_words") or {}).items()},
                cancel_words=tuple(raw["cancel_words"]),
                confirm_words=tuple(raw.get("confirm_words", ())),
                decline_words=tuple(raw.get("decline_words", ())),
                grid_worker_words=tuple(raw.get("grid_worker_words", ())), answered_in_place=tuple(raw["answered_in_place"]),
                callback=CallbackPolicy.of(raw["callback"]))
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"{path}: missing or malformed setting: {error}") from error
        problems = config.problems()
        if problems:
            raise ValueError(f"{path}: " + "; ".join(problems))
        return config

    def problems(self) -> list[str]:
        categories = self.categories.values()
        found = [f"category {c.code}: unknown deadline class {c.deadline_class}"
                 for c in categories if c.deadline_class not in self.deadline_classes]
        found += [f"category {c.code}: unknown tier {c.tier}" for c in categories if c.tier not in self.tiers]
        found += [f"{code}: unknown route {route}" for code, route in self.routes().items() if not _route_ok(route)]
        found += [f"emergency {e.kind}: unknown deadline class {e.deadline_class}"
                  for e in self.emergencies.values() if e.deadline_class not in self.deadline_classes]
        found += [f"emergency {e.kind}: unknown category {code}" for e in self.emergencies.values()
                  for code in (*e.categories, *([e.category] if e.category else [])) if code not in self.categories]
        found += [f"emergency {e.kind}: neither words nor categories" for e in self.emergencies.values()
                  if not e.words and not e.categories]
        found += [f"riders.own_categories: unknown category {code}" for code in self.rider_own_categories
                  if code not in self.categories]
        found += [f"typed_answers: unknown answer {code}" for code in self.typed_answers if code not in self.answer_labels]
        return found

    def routes(self) -> dict[str, str]:
        """Every route the policy names: per category, and for tickets with no known community."""
        return {**{code: c.route for code, c in self.categories.items()}, "unlocated_route": self.unlocated_route}


@cached
def _wording(path: str) -> dict:
    try:
        return dict((read_yaml(path) or {})["wording"])
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{path}: missing or malformed wording: {error}") from error


def wording(section: str, name: str, **values: object) -> Any:
    """service.yml ``wording.<section>.<name>`` (see the comments there): a text, formatted with
    ``values`` when given; a list of words as a tuple; a table as a dict. A missing one raises KeyError."""
    found = _wording(str(get_settings().service_path))[section][name]
    if isinstance(found, str):
        return found.format(**values) if values else found
    return tuple(found) if isinstance(found, list) else found
