"""vantage6_algorithm."""
