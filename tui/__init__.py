"""dialbox console: the Textual terminal UI technicians open over SSH (a client of the API)."""
