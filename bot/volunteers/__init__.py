"""Rider volunteers (流动吹哨人): sign-up, approval, nudge subscriptions, all-clear patrols, points.
May import: bot.people, bot.tickets, bot.config, bot.nlu, bot.privacy, bot.core.
"""
