"""Tests of the tooling: devtools/, scripts/, deploy/, and the generated and checked parts
of the docs; no services."""
