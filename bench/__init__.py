"""gridpatrol's benchmark harness: ``python -m bench -t SCENARIOS -n SIZE [--csv]``."""
