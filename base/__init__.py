"""The base every package uses: the exception base and the settings machinery.

Imports nothing else of gridpatrol (an import-linter contract in pyproject.toml holds it).
"""
