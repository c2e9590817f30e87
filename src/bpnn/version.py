"""bpnn's version, in one place: the package, the packaging metadata and the file format read it.

It imports nothing, so any layer may import it.
"""

__version__ = "0.1.0"
