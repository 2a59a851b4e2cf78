"""The scheduler: APScheduler with a persistent job store, the lease that lets one process run jobs,
the clock. Knows nothing of the features whose jobs it runs.
May import: bot.messaging, bot.config, bot.core.
"""
