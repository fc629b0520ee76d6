"""Method implementations: networks, memory policies, training-free features.

Importing this package registers every built-in method with ``vosbench.registry``.
"""
