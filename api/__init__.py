"""The supervisors' HTTP API and the live map (FastAPI). Nothing below api/ imports FastAPI."""
