"""Analog lines through V.253 (IS-101) voice modems."""
