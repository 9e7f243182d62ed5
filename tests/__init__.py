"""The project's own tests: the spec, the mock, the fixtures, the tooling."""
