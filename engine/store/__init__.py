"""Persistence: SQLAlchemy models, database set-up, and the unit of work."""
