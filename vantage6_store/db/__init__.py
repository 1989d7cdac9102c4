"""The store's database: models, engine and migrations."""
