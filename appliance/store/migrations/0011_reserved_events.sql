-- Placeholder for branch `events` (#25), which owns migration 0011: delete this file when merging.
SELECT 1;
