"""The composition root: builds the gateway's parts from settings and configuration
(:func:`build_services`, in ``build.py``) into one :class:`Services` (``container.py``), whose
methods hand each operation exactly what it uses. No domain package imports it."""

from gateway.services.build import build_services
from gateway.services.container import Services

__all__ = ["Services", "build_services"]
