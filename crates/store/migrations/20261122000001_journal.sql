-- The vigil journal. Portable SQL: the same schema runs on SQLite and PostgreSQL.
-- Money is TEXT (exact decimals), time is BIGINT nanoseconds since the epoch.
-- Every table is append-only; primary keys make a duplicate write an error.

CREATE TABLE runs (
    run_id      TEXT PRIMARY KEY,
    mode        TEXT NOT NULL,
    config      TEXT NOT NULL,
    started_at  BIGINT NOT NULL
);

-- Every input the engine processed, in order: market events and control events
-- (kill switch, shutdown cancels). Replaying them rebuilds the engine exactly.
CREATE TABLE events (
    run_id   TEXT NOT NULL,
    seq      BIGINT NOT NULL,
    ts       BIGINT NOT NULL,
    kind     TEXT NOT NULL,
    payload  TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
);

-- One row per order intent with its risk verdict. order_id is unique per run:
-- an order can never be journaled (or sent) twice.
CREATE TABLE orders (
    run_id    TEXT NOT NULL,
    order_id  BIGINT NOT NULL,
    seq       BIGINT NOT NULL,
    ts        BIGINT NOT NULL,
    request   TEXT NOT NULL,
    verdict   TEXT NOT NULL,
    sent      TEXT,
    PRIMARY KEY (run_id, order_id)
);

-- Order state changes: accepted, partially_filled, filled, cancelled, rejected.
CREATE TABLE order_events (
    run_id    TEXT NOT NULL,
    seq       BIGINT NOT NULL,
    n         BIGINT NOT NULL,
    order_id  BIGINT NOT NULL,
    ts        BIGINT NOT NULL,
    status    TEXT NOT NULL,
    reason    TEXT,
    PRIMARY KEY (run_id, seq, n)
);

CREATE TABLE fills (
    run_id      TEXT NOT NULL,
    seq         BIGINT NOT NULL,
    n           BIGINT NOT NULL,
    order_id    BIGINT NOT NULL,
    ts          BIGINT NOT NULL,
    instrument  TEXT NOT NULL,
    side        TEXT NOT NULL,
    price       TEXT NOT NULL,
    qty         TEXT NOT NULL,
    fee         TEXT NOT NULL,
    liquidity   TEXT NOT NULL,
    PRIMARY KEY (run_id, seq, n)
);

CREATE TABLE risk_events (
    run_id   TEXT NOT NULL,
    seq      BIGINT NOT NULL,
    n        BIGINT NOT NULL,
    ts       BIGINT NOT NULL,
    payload  TEXT NOT NULL,
    PRIMARY KEY (run_id, seq, n)
);

-- Balances, positions and equity, sampled.
CREATE TABLE snapshots (
    run_id     TEXT NOT NULL,
    seq        BIGINT NOT NULL,
    ts         BIGINT NOT NULL,
    cash       TEXT NOT NULL,
    equity     TEXT NOT NULL,
    positions  TEXT NOT NULL,
    state      TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
);

CREATE INDEX fills_by_order ON fills (run_id, order_id);
