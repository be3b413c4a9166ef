"""Admin API routes: roles (to be filled in)."""
