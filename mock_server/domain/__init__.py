"""The mock's rules as plain Python: allocations, PINs, number pools, calls. No HTTP here."""
