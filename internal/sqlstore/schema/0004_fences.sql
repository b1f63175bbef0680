-- Fenced claims: every claim of a queued change bumps its fence, and the
-- claimer gets the new value as its token (Change.Fence). A write made for
-- the change with an older token is refused in its transaction, so a
-- replica that stalled past its lease while another re-claimed the change
-- cannot complete it, save its sync state or log it afterwards.
ALTER TABLE queue ADD COLUMN fence {{.Int64}} NOT NULL DEFAULT 0;
