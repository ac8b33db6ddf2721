"""The running dial loop: lines, leases, calls, outcomes, strategy — the glue around the libraries."""
