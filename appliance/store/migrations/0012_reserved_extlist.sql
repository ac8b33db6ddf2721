-- Placeholder for branch `extlist` (#26, D9), which owns migration 0012: delete this file when merging.
SELECT 1;
