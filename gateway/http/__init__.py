"""Everything Flask and WSGI: the Registry contract endpoint, pages, the admin UI and API,
probes, error handlers, body limits and serving under gunicorn. Nothing outside imports it but
the app factory, the WSGI entry and the CLI."""
