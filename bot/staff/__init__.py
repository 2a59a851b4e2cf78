"""What staff do: the staff commands of the chat and the CLI, one implementation for both.
May import: bot.proactive, bot.reports, bot.callbacks, bot.workflows, bot.scheduling, bot.handlers, bot.tickets, bot.people, bot.volunteers, bot.config, bot.privacy, bot.core.
"""
