"""Tests of appliance.drivers: framing, session, codec, driver against the emulator."""
