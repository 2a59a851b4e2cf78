"""The scheduler: APScheduler with a persistent job store, the lease that lets one process run jobs,
the clock. Knows nothing of the features whose jobs it runs.
May import: bot.messaging, bot.tickets (the store a job context carries), bot.config, bot.core.
"""
