"""Model manifest and fetch command; the weights themselves are never committed (the vision issue)."""
