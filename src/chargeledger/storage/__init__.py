"""Storage: tables, migrations and the repository functions holding all SQL.

One code path for SQLite and PostgreSQL: SQLAlchemy Core, instants as integer epoch
milliseconds, UUID keys, JSON kept as text.
"""
