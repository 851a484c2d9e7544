"""Development tools that run inside the dev container; the runtime image never has them."""
