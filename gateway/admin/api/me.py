"""Admin API routes: me (to be filled in)."""
