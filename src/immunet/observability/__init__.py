"""What an operator sees: Prometheus metrics, JSON logs and the dependency probes behind
``/readyz`` (decision 0019)."""
