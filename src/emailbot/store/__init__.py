"""Storage: the database is the source of truth for every email and its state."""
