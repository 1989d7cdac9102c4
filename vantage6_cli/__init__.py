"""vantage6_cli."""
