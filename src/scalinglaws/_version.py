"""The package version (a leaf: imported by the modules that stamp it on files and pages)."""

__version__ = "0.1.0"
