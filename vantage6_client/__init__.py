"""vantage6_client."""
