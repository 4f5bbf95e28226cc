-- Tamper evidence: each input carries SHA-256(previous chain ‖ its records)
-- (NULL on inputs journaled before this migration), and each run's high-water
-- mark — its last input and chain value — is kept in `run_marks` (and, for
-- SQLite, in a sidecar file a rolled-back or replaced database cannot take
-- with it).
ALTER TABLE events ADD COLUMN chain TEXT;

CREATE TABLE run_marks (
    run_id  TEXT PRIMARY KEY,
    seq     BIGINT NOT NULL,
    chain   TEXT NOT NULL
);
