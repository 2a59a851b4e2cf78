"""Handlers (承办单位) as people with channels: who receives a handler's tickets, sign-for (签收),
returns (退单), reports back (反馈), interim notes and extension requests (申请延期) from chat.
May import: bot.tickets, bot.config, bot.privacy, bot.nlu, bot.core.
"""
