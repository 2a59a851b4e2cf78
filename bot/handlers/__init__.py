"""Handlers (承办单位) as people with channels: who receives a handler's tickets, sign-for (签收),
returns (退单), reports back (反馈) and interim notes from chat.
May import: bot.tickets, bot.config, bot.privacy, bot.core.
"""
