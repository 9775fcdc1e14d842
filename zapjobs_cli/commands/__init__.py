"""One module per command or command group; each registers itself on the root app."""
