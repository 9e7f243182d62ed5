"""`python -m mock_server` is `exomock`."""

from .cli import main

raise SystemExit(main())
