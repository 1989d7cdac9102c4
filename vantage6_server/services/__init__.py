"""Business logic shared by routes and socket handlers (task status, kills)."""
