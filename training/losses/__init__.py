"""Training losses of the upstream recipes, one module per method family."""
