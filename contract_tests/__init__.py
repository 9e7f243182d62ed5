"""Conformance suites that judge any server (the mock or a real one) against the contract."""
