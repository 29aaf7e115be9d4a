"""vaebook: the package behind the book on autoencoders and variational autoencoders.

Modules, each importing only those before it: ``checks`` → ``data`` → ``models`` →
``objectives`` → ``training`` → ``plots`` and ``analysis``.
"""

__version__ = "0.1.0"
