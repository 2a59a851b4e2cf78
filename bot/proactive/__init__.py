"""未诉先办 (proactive cases): before a season, last season's repeats (buildings × categories) are
proposed; staff approve one in chat or on the CLI; it becomes a ticket of source ``proactive``
dispatched like any other, and the riders patrolling there get a targeted nudge.
May import: bot.reports, bot.workflows, bot.scheduling, bot.messaging, bot.tickets, bot.volunteers, bot.config, bot.core.
"""
