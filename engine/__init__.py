"""The workflow core of the complaint service: definitions, runtime, store, timers.

Nothing in here imports Flask. `engine.core.Engine` is the one object the HTTP edge, the CLI,
the timer worker and the tests talk to.
"""
