"""Shared contracts between the edge and the cloud: wire stubs (vigil.v1), config loading."""
__version__ = "0.1.0"
