-- Staff accounts administered from the console (docs/console.md). A password an
-- administrator reset is one-time: until its user sets a new one, their tokens reach only
-- the password change (docs/security.md, "Password resets"). The last login is shown on
-- the staff list so a county can find accounts nobody uses.
ALTER TABLE users ADD COLUMN must_change_password BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE users ADD COLUMN last_login_at BIGINT;
