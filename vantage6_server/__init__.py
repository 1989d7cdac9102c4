"""vantage6_server."""
