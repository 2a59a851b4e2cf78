"""Foundations every other package may use: settings, the database, errors, clocks, text patterns and
formats, the Redis client. Imports nothing else of ``bot``.
May import: nothing.
"""
