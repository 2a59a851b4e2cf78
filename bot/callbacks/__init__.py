"""Call-back requests (转人工): a resident asks for a person to call them back; staff see it at once,
call, and mark it done; every step is in the call-back's history (and its ticket's, when linked).
May import: bot.tickets, bot.privacy, bot.config, bot.core.
"""
