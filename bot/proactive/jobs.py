"""The daily look ahead: proposals for seasons starting soon, and a notice to each community's staff."""
from __future__ import annotations

from apscheduler.triggers.cron import CronTrigger

from bot.messaging.send import notify_staff
from bot.proactive.cases import policy, propose
from bot.scheduling.registry import recurring
from bot.scheduling.scheduler import Context


@recurring("system:proactive", lambda context: CronTrigger(hour=policy().proposal_time.hour,
                                                           minute=policy().proposal_time.minute,
                                                           timezone=context.policy.zone))
def propose_daily(context: Context) -> int:
    """Proposes for every season starting within the lead time; each community's staff hear of its
    proposals once per season (the delivery key), with an approve button per case."""
    cases = propose(context.tickets, context.clock())
    seen = dict.fromkeys((c.season, c.season_start, c.community) for c in cases)
    for season, start, community in seen:
        notify_staff(context, f"proactive:{season}:{start}:{community}", context.recipients.community_staff(community),
                     "proactive", season=season, season_start=start, community=community)
    return len(cases)
