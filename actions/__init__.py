"""Linli's rasa-sdk action server: thin actions that call into `bot` for every rule and record."""
from bot.privacy import logs as _logs

_logs.install()  # the action server imports this package before it serves: no phone in its log
