"""vantage6_node."""
