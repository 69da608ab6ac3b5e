-- Who closed a flagged contradiction, and what they did about it (`corridor reconcile
-- resolve`); `resolved_at` was there from the start.
ALTER TABLE reconciliation ADD COLUMN resolved_by TEXT;
ALTER TABLE reconciliation ADD COLUMN resolution TEXT;
