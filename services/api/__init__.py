"""api: the REST API over the projected read model (FastAPI + asyncpg)."""
