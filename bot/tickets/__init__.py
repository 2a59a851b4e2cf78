"""Tickets (工单): their records, statuses and legal changes, views, the store, dispatch, duplicates.
May import: bot.config, bot.privacy, bot.nlu, bot.core.
"""
