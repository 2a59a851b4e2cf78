"""Figures for staff: the three rates (三率), the weekly and monthly report, terminal tables.
May import: bot.workflows, bot.messaging, bot.tickets, bot.config, bot.privacy, bot.core.
"""
