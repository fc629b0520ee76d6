"""Method implementations: networks, memory policies, training-free features.

Importing this package imports every sub-module that registers a method, so each
method registers itself with ``vosbench.registry`` and nothing names it elsewhere.
"""

from importlib import import_module
from pkgutil import iter_modules

for _module in iter_modules(__path__):
    if _module.ispkg and _module.name not in ("backbones", "memory"):
        import_module(f"{__name__}.{_module.name}")
