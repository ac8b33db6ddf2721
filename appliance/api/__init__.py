"""The daemon's HTTP side: REST for CRMs and the console, the local Unix socket, and /metrics."""
