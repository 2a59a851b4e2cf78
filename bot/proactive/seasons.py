"""The seasons of service.yml's ``proactive:`` section, and which one is coming up."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Optional
from zoneinfo import ZoneInfo

import yaml


@dataclass(frozen=True)
class Season:
    code: str
    label: str
    starts: tuple[int, int]   # (month, day)
    ends: tuple[int, int]
    watch: dict               # category -> what riders are asked to look at

    def window(self, year: int) -> tuple[date, date]:
        """[first day, day after the last) of the season that starts in ``year``."""
        first = date(year, *self.starts)
        last = date(year + (self.ends < self.starts), *self.ends)
        return first, last + timedelta(days=1)


@dataclass(frozen=True)
class ProactivePolicy:
    lead_days: int
    min_repeats: int
    proposal_time: time
    seasons: dict

    def coming(self, today: date) -> list[tuple[Season, date]]:
        """The seasons starting within ``lead_days`` from ``today`` (or that started, still running,
        up to their end), with the day each starts: the ones to propose for now."""
        found = []
        for season in self.seasons.values():
            for year in (today.year - 1, today.year, today.year + 1):
                first, after = season.window(year)
                if first - timedelta(days=self.lead_days) <= today < after:
                    found.append((season, first))
        return found

    def season_of(self, code: str) -> Season:
        if code not in self.seasons:
            raise KeyError(code)
        return self.seasons[code]


def _month_day(text: str) -> tuple[int, int]:
    month, day = (int(part) for part in str(text).split("-"))
    date(2024, month, day)  # refuses 02-30 and the like (2024: 02-29 is allowed)
    return month, day


@lru_cache(maxsize=4)
def proactive_policy(path: Path) -> ProactivePolicy:
    raw = (yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}).get("proactive") or {}
    try:
        seasons = {code: Season(code, s["label"], _month_day(s["starts"]), _month_day(s["ends"]), dict(s["watch"]))
                   for code, s in (raw.get("seasons") or {}).items()}
        return ProactivePolicy(int(raw.get("lead_days", 14)), int(raw.get("min_repeats", 2)),
                               time.fromisoformat(raw.get("proposal_time", "09:00")), seasons)
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{path}: proactive: missing or malformed setting: {error}") from error


def local_day(moment: datetime, zone: ZoneInfo) -> date:
    return moment.astimezone(zone).date()


def bounds(first: date, after: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """Local days as UTC-aware moments for the queries."""
    return (datetime.combine(first, time(), zone), datetime.combine(after, time(), zone))


def optional_season(policy: ProactivePolicy, code: Optional[str]) -> Optional[Season]:
    return policy.season_of(code) if code else None
