-- The login throttle's counts where several server processes share the database
-- (src/auth/throttle.rs): one row per rule's key, the key a keyed hash of the address
-- and username it stands for. SQLite servers (one process) keep them in memory.
CREATE TABLE login_throttle (
    key       TEXT PRIMARY KEY,
    failures  BIGINT NOT NULL,
    last_at   BIGINT NOT NULL
);
