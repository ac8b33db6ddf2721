"""The scheduler: pure decisions on what to dial, when and how (SPEC C2–C7, C11–C13).

Nothing here reads a clock or does I/O: every function is handed the time and the state it
judges. The store's queries (appliance/store/selection.py) feed it; the planner
(appliance/engine/storeplanner.py) puts the two together for the engine and the CLI.
"""
