"""Linli (邻里): the non-Rasa half of the assistant — settings, tickets, directory, channels, scheduler."""
