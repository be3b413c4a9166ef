"""Admin API routes: providers (to be filled in)."""
