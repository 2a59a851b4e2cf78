"""Broadcasts (通知): composing a notice, its audience, its life cycle, the fan-out and its schedule.
May import: bot.scheduling, bot.messaging, bot.people, bot.volunteers, bot.config, bot.nlu, bot.core.
"""
