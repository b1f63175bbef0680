-- Replay ids as bytes: the Pub/Sub API's replay ids are opaque byte
-- strings (10 bytes seen on real orgs), which the integer column of 0001
-- could not hold without loss. Existing checkpoints were CometD integers
-- (or the presets -1 and -2): each becomes its 8 big-endian bytes, the
-- encoding billsync.ReplayInt reads back as the same integer.
CREATE TABLE stream_checkpoints_bytes (
    channel    {{.Text}} PRIMARY KEY,
    replay_id  {{.Bytes}} NOT NULL,
    updated_at {{.Int64}} NOT NULL
);
INSERT INTO stream_checkpoints_bytes (channel, replay_id, updated_at)
    SELECT channel, {{printf .BigEndian "replay_id"}}, updated_at FROM stream_checkpoints;
DROP TABLE stream_checkpoints;
ALTER TABLE stream_checkpoints_bytes RENAME TO stream_checkpoints;
