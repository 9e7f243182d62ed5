"""Example programs that use the project."""
