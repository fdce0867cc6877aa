"""The ``painterly`` command line: ``python -m painterly.cli`` or the ``painterly`` script."""
