-- The alert outbox: every alert, once per channel, written in the same
-- transaction as the input that raised it, then delivered by a task of its
-- own. Rows change state (pending → delivered | gave_up); they are outputs, not
-- inputs, so they stay out of the hash chain.
CREATE TABLE alert_outbox (
    run_id      TEXT NOT NULL,
    alert_id    TEXT NOT NULL,
    channel     TEXT NOT NULL,
    seq         BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    payload     TEXT NOT NULL,
    state       TEXT NOT NULL,
    attempts    BIGINT NOT NULL,
    next_at     BIGINT NOT NULL,
    last_error  TEXT,
    done_at     BIGINT,
    PRIMARY KEY (run_id, alert_id, channel)
);
CREATE INDEX alert_outbox_due ON alert_outbox (run_id, channel, state, next_at);
