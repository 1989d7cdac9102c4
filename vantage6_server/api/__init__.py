"""HTTP API: every request enters through a router in ``routes/``."""
