"""vaebook: the package behind the book on autoencoders and variational autoencoders.

Modules, each with one job named in its docstring, each importing only modules before it:
``checks`` → ``randomness`` → ``data``, ``corruption`` → ``densities``, ``discrete``, ``flows`` →
``distributions`` → ``models`` → ``losses`` → ``likelihood``, ``estimators``, ``exact``,
``aggregate`` → ``training``, ``vi``, ``checkpoints`` → ``pretrained`` → ``plots``, ``analysis``.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("vaebook")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"
