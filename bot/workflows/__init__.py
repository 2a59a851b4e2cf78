"""Timed work on tickets and people: follow-ups (回访), the deadline watch, supervision (督办),
the digest, progress notices, rider nudges, volunteer status notices.
May import: bot.scheduling, bot.messaging, bot.tickets, bot.people, bot.volunteers, bot.config, bot.privacy, bot.core.
"""
