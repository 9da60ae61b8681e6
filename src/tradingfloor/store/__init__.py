"""Read models and accounts in SQL: SQLAlchemy Core tables, SQLite or PostgreSQL, Alembic.

`schema` holds the tables as the newest migration leaves them; `migrations/versions` holds
the history that builds them. `database.upgrade(url)` brings any database to the newest.
"""

from tradingfloor.store.database import downgrade, make_engine, upgrade
from tradingfloor.store.schema import api_keys, metadata, refresh_tokens, users

__all__ = [
    "api_keys",
    "downgrade",
    "make_engine",
    "metadata",
    "refresh_tokens",
    "upgrade",
    "users",
]
