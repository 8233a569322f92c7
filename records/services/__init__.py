"""Business rules. Only services touch storage; controllers and the CLI call services."""
