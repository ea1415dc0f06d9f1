"""Shared contracts between the edge and the cloud: wire stubs (vigil.v1), settings loading, retry backoff,
webhook signing (part of the contract receivers verify), sample footage and lazy package exports.

Nothing here imports `edge` or `cloud` (an import-linter contract checks it); runnable extras live in `vigil_tools`.
"""
__version__ = "0.1.0"
