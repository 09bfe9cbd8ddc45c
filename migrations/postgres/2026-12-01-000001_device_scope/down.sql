ALTER TABLE refresh_tokens DROP COLUMN replaced_by;
DROP INDEX devices_user_client;
ALTER TABLE devices DROP COLUMN token_generation;
ALTER TABLE devices DROP COLUMN client_id;
