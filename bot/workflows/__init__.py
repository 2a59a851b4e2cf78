"""Timed work on tickets and people: follow-ups (回访), the deadline watch, supervision (督办),
the digest, progress notices, dispatch notices and the sign-for limit, rider nudges, volunteer status
notices, call-backs (转人工).
May import: bot.scheduling, bot.messaging, bot.handlers, bot.tickets, bot.callbacks, bot.people, bot.volunteers, bot.config, bot.privacy, bot.core.
"""
