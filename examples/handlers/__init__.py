"""Example webhook handlers, one ready for the provider and some broken ones (see README)."""
