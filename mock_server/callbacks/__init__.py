"""Callbacks leave the mock through one dispatcher, which validates, delivers and logs them."""
