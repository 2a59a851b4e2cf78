"""The ``linli`` command, one module per area of work.
May import anything in bot.
"""
