"""Helpers for running the contract suite in a pipeline."""
