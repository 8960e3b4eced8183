"""The phenomena, one package each: ``science`` (numpy/torch in and out), ``paper`` (the paper's
numbers and setups), ``charts`` (DataFrame -> alt.Chart) and ``experiments`` (configs, compute
functions, presets, claims, the registry entries). ``__init__.py`` declares ``PHENOMENON``.

Packages are discovered by :mod:`engine.core.registry`; nothing here lists them.
"""
