-- SQLite has no trigram index: `q` scans the campaign's rows. Nothing to do;
-- the file keeps the two schemas' version numbers in step.
SELECT 1;
