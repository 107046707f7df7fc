-- 005_finding_location: where the ranking model (detect/explain) placed a
-- finding: the service and operation whose change it is evidence of. It
-- may differ from the service the subject names: a retransmit tail seen on
-- a caller's call is about the callee whose packets are lost. NULL when the
-- finding was not ranked (stored before this migration, or no location).

ALTER TABLE findings ADD COLUMN service VARCHAR;
ALTER TABLE findings ADD COLUMN operation VARCHAR;
