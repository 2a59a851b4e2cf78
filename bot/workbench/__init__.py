"""The workbench (工作台): web pages where community staff and handlers' contacts see and work their
tickets (handlers: sign for, ask for more days), staff call residents back, send notices, approve
rider volunteers and read the figures (`linli console`).

Everything a page changes goes through the functions the chat commands and the CLI use
(``bot.staff.act``/``plan``, ``bot.handlers.work``, ``bot.callbacks``, ``bot.broadcasts``,
``bot.volunteers``); this package adds only what a
browser needs: sign-in by one-time link, sessions, CSRF tokens, an audit log, listing queries
(``queries.py``) and the pages themselves (Sanic + Jinja2, no JavaScript build).

Modules: ``config`` (workbench.yml), ``models`` (its tables), ``auth`` (links, sessions, subjects),
``queries`` (reads for the queue, kept in one place for the store to take over), ``actions``
(state changes, audited), ``figures`` (report figures for the page), ``misunderstood`` (messages the
assistant did not understand, labelled and exported as training data), ``places`` (building points
for the ticket page's map), ``app`` (routes), ``server`` (``start_console``). The commands
``linli console`` and ``linli nlu export`` are in ``bot.cli.console``.
May import: bot.staff, bot.broadcasts, bot.reports, bot.workflows, bot.scheduling, bot.handlers, bot.tickets, bot.callbacks, bot.people, bot.volunteers, bot.config, bot.privacy, bot.core.
"""
