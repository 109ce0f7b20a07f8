"""The web portal: server-rendered pages on the same services as the API (decision 0015)."""
