"""The street's decisions about timing: quiet hours, follow-up delays, the deadline watch, the digest,
nudges (service.yml; see its comments).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.config.files import cached, read_yaml
from bot.core.settings import env, get_settings


class PolicyError(ValueError):
    """service.yml asks for something that makes no sense; raised at load, not at 3 a.m."""


@dataclass(frozen=True)
class Policy:
    """The street's decisions about timing (service.yml; see its comments)."""

    zone: ZoneInfo
    quiet_start: time
    quiet_end: time
    followup_delay: timedelta
    followup_reminder_after: timedelta
    followup_no_answer_after: timedelta
    street_after_failed: int
    remind_at: float
    response_hours: dict
    digest_time: time
    nudge_max_per_day: int
    nudge_pause_days: int
    progress_actions: tuple = ()
    progress_lookback: timedelta = timedelta(hours=24)
    tracker_retention: timedelta = timedelta(days=7)

    @classmethod
    def load(cls, path: Path, zone: str) -> "Policy":
        raw = read_yaml(path)
        followup = {**raw.get("followup", {}), **_followup_overrides()}
        quiet = [time.fromisoformat(t) for t in raw.get("quiet_hours", ("22:00", "08:00"))]
        remind_at = float(raw.get("deadline_watch", {}).get("remind_at", 0.75))
        if not 0 < remind_at < 1:
            raise PolicyError(f"{path}: deadline_watch.remind_at must be between 0 and 1")
        progress = raw.get("progress_notices", {})
        hours = {name: timedelta(hours=float(followup[name + "_hours"]))
                 for name in ("delay", "reminder_after", "no_answer_after")}
        retention = timedelta(days=float(raw.get("privacy", {}).get("tracker_retention_days", 7)))
        if retention < hours["reminder_after"] + hours["no_answer_after"]:
            raise PolicyError(f"{path}: privacy.tracker_retention_days is shorter than a follow-up waits for "
                              "its answer: residents' answers would find no conversation")
        return cls(zone=ZoneInfo(zone), quiet_start=quiet[0], quiet_end=quiet[1],
                   followup_delay=hours["delay"], followup_reminder_after=hours["reminder_after"],
                   followup_no_answer_after=hours["no_answer_after"],
                   street_after_failed=int(followup.get("street_after_failed", 2)), remind_at=remind_at,
                   response_hours={k: float(v) for k, v in raw["response_hours"].items()},
                   digest_time=time.fromisoformat(str(raw.get("digest", {}).get("time", "08:30"))),
                   nudge_max_per_day=int(raw.get("nudges", {}).get("max_times_per_day", 3)),
                   nudge_pause_days=int(raw.get("nudges", {}).get("pause_days", 7)),
                   progress_actions=tuple(progress.get("actions", ())),
                   progress_lookback=timedelta(hours=float(progress.get("lookback_hours", 24))),
                   tracker_retention=retention)

    # -- quiet hours --------------------------------------------------------------------------

    def is_quiet(self, moment: datetime) -> bool:
        return self.is_quiet_time(moment.astimezone(self.zone).time())

    def is_quiet_time(self, local: time) -> bool:
        """Whether a local time of day (e.g. one a rider chose for nudges) is in the quiet hours."""
        if self.quiet_start <= self.quiet_end:
            return self.quiet_start <= local < self.quiet_end
        return local >= self.quiet_start or local < self.quiet_end

    def outside_quiet(self, moment: datetime) -> datetime:
        """The moment itself, or the end of the quiet hours it falls in."""
        if not self.is_quiet(moment):
            return moment
        local = moment.astimezone(self.zone)
        end = datetime.combine(local.date(), self.quiet_end, self.zone)
        if end <= local:
            end = datetime.combine(local.date() + timedelta(days=1), self.quiet_end, self.zone)
        return end.astimezone(timezone.utc)


def _followup_overrides() -> dict:
    """``LINLI_FOLLOWUP_DELAY_HOURS`` and friends override service.yml (tests, pilots)."""
    overrides = {"delay_hours": env("FOLLOWUP_DELAY_HOURS"),
                 "reminder_after_hours": env("FOLLOWUP_REMINDER_AFTER_HOURS"),
                 "no_answer_after_hours": env("FOLLOWUP_NO_ANSWER_AFTER_HOURS")}
    return {name: value for name, value in overrides.items() if value}


@cached
def _policy(path: str, zone: str, overrides: tuple) -> Policy:
    return Policy.load(Path(path), zone)


def get_policy() -> Policy:
    settings = get_settings()
    return _policy(str(settings.service_path), settings.timezone, tuple(sorted(_followup_overrides().items())))
