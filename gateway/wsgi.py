"""WSGI entry point for gunicorn: ``gunicorn -c deploy/gunicorn.conf.py`` (or ``gateway serve``).

The configuration file matters: it prepares the database in the master and gives the workers
one shared metrics directory; without it each worker would expose only its own counts.
"""

from gateway.app import create_serving_app

app = create_serving_app()
