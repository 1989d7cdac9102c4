"""Building the project's container images (a development tool, not part of the packages)."""
