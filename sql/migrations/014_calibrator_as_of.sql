-- The moment a calibrator's labels were read as of (docs/calibration.md "Which rows").
-- `calibrate fit --as-of` (default: the moment it runs) and the recalibration workflow (the
-- as-of of its run) read both ranges with the labels known then, so outcomes received after a
-- range's end + window (late labels, a backfilled label feed) count. Rows stored before this
-- migration, and fits of recalibrations started before it, keep null: each range was read as
-- of its own end + window, as train_as_of and holdout_as_of say.
alter table calibrators add column as_of timestamptz;
