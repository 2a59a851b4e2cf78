"""Linli's rasa-sdk action server: thin actions that call into `bot` for every rule and record."""
