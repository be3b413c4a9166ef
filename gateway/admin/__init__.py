"""Administration: the admin API (``/admin/api``), its OpenAPI document, and the admin UI
(``/admin``). The services here are shared by both; the blueprints are thin adapters."""
