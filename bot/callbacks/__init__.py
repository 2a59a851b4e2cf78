"""Call-back requests (转人工): a resident asks for a person to call them back.
May import: bot.config, bot.core.
"""
