"""Runs on this node: their folders, container environment, lifecycle and recovery."""
