"""The project's own tooling, in Python: what runs in the dev container (the reloader, lint,
the configuration generator, mail chaos), and the throw-away stacks that the suites in
tests/stack and the benchmark drive from the host (stack.py: the standard library only).
The runtime image has none of it."""
