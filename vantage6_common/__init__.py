"""Code shared by the server, node, client, CLI and algorithm tools."""

__version__ = "0.1.0"
# The vantage6 release whose wire protocol we speak.
WIRE_VERSION = "4.14.0"
