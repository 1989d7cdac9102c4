"""Storage backends against real endpoints."""
