"""Personal data: masking phone and room numbers wherever people other than the owner could see them.
May import: bot.core, bot.nlu.
"""
