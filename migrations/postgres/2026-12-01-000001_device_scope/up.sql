-- A device is the server's: one row per (user, the tablet's own id), with a server id.
-- Two users naming the same tablet id get two rows, so no login can take over, revoke or
-- block another user's device (docs/security.md). Existing rows keep their id as the
-- server id, so the tokens and records that name them stay valid.
ALTER TABLE devices ADD COLUMN client_id TEXT NOT NULL DEFAULT '';
UPDATE devices SET client_id = id;
CREATE UNIQUE INDEX devices_user_client ON devices(user_id, client_id);
-- Bumped when a reused refresh token kills the device's tokens; access tokens carry the
-- generation they were issued under and stop when it moves on.
ALTER TABLE devices ADD COLUMN token_generation BIGINT NOT NULL DEFAULT 0;
-- The token a refresh issued in exchange for this one: a retry inside the grace window
-- answers the same pair.
ALTER TABLE refresh_tokens ADD COLUMN replaced_by TEXT;
