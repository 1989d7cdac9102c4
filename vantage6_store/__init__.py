"""The algorithm store: trusted algorithms with review, wire-compatible with vantage6 4.x."""
