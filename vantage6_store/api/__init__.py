"""The store's REST API (FastAPI)."""
