"""Admin API routes: sessions (to be filled in)."""
