"""AT command engine: byte framing (framing.py), result codes (codes.py) and the session (session.py)."""
