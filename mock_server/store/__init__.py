"""Where the domain's state is kept: in memory by default, in SQLite with `--state-file`."""
