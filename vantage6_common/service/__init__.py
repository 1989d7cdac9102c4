"""Infrastructure shared by the server and the algorithm store (FastAPI, SQLAlchemy, Alembic).

Import on demand only: the rest of ``vantage6_common`` is also copied into algorithm images,
which have none of these libraries, so nothing outside this package imports it.
"""
