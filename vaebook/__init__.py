"""vaebook: the package behind the book on autoencoders and variational autoencoders.

Modules, each importing only those before it: ``checks`` → ``data``, ``corruption`` → ``models``
→ ``objectives``, ``exact``, ``estimators`` → ``training``, ``checkpoints`` → ``plots``,
``analysis``.
"""

__version__ = "0.1.0"
