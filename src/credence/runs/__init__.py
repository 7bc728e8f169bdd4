"""Due-process runs as a service: which subjects are due (the agenda), and how a run visits them."""
