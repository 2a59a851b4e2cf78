"""Proactive messages: who is told (recipients), delivery through Rasa's trigger_intent, sending to many.
May import: bot.tickets, bot.people, bot.config, bot.core.
"""
