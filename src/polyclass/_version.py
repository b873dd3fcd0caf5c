"""The package version, kept in one place."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__: str = version("polyclass")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"
