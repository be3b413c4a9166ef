"""Admin API routes: groups (to be filled in)."""
