"""People Linli talks to: roles, profiles, notice subscriptions, the staff roster.
May import: bot.config, bot.core.
"""
