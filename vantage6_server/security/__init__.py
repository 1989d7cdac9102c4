"""Authentication building blocks: passwords, JWTs, TOTP and API keys."""
