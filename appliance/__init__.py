"""dialbox: the outbound campaign dialer appliance (daemon, scheduler, store, drivers)."""

__version__ = "0.1.0"
