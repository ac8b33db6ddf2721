"""Line drivers: bytes <-> frames, sessions, and the narrow Line interface.

This package imports only the standard library, pyserial(-asyncio-fast) and python-can, so
that it can be published on its own; nothing here imports the store, scheduler, API or console.
"""
