"""Protocol-faithful local stand-ins for the messaging platforms' HTTP APIs.

There is no internet in tests and benchmarks. Each stand-in is a small aiohttp app on 127.0.0.1
that answers the way the platform documents it (method names, required parameters, signatures,
error codes, rate limits), records what it was sent, and can act as the platform's servers
pushing user traffic to a channel's webhook (signed, encrypted, retried as the platform does).
"""
