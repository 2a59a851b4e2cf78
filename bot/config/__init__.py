"""The street's configuration files as typed objects: service policy (service.yml), the directory,
the staff file, the broadcasts file, report settings; one loader and one cache.
May import: bot.privacy, bot.nlu, bot.core.
"""
