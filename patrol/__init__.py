"""Where storage and the patrol rules meet: reports over a window, the scorecard, the live updater."""
