"""Admin API routes: audit (to be filled in)."""
