"""The console's panes, one a module with its CSS beside it (`<pane>.tcss`): what the technician
watches (dashboard, lines, logs, agents) and changes (campaigns, DNC, reports, setup)."""
