"""Far ends for tests and demos: an emulated GSM modem on a pseudo-terminal (SPEC H5)."""
