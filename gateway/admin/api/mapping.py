"""Admin API routes: mapping (to be filled in)."""
