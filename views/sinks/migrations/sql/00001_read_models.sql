-- +goose Up
-- The read models of the seed's models, filled by the sinks from the output
-- topics. Two kinds of tables:
--   append-only (gift_card_transactions, return_audit_logs, user_interactions):
--     one row per event, unique event_id; sinks insert and never update or delete.
--   current state (gift_cards, return_requests, return_items,
--     product_similarities, recommendation_cache): one row per key, upserted;
--     (version, occurred_at, last_event_id) orders the events of a key, and a
--     row is only ever replaced by a newer event.
-- Money is NUMERIC with its currency beside it; metadata is JSONB.
-- Gift card codes are never stored: card_key is the HMAC-SHA256 of the
-- normalized code (hex), code_last4 its last four characters.

CREATE TABLE gift_cards (
    card_key        TEXT PRIMARY KEY,
    code_last4      TEXT NOT NULL,
    original_amount NUMERIC CHECK (original_amount >= 0),
    current_balance NUMERIC NOT NULL CHECK (current_balance >= 0),
    currency        TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('active', 'partially_redeemed', 'fully_redeemed', 'expired', 'voided')),
    purchaser_id    TEXT,
    recipient_email TEXT,
    message         TEXT,
    batch_id        TEXT,
    expires_at      TIMESTAMPTZ,
    voided_at       TIMESTAMPTZ,
    voided_by       TEXT,
    void_reason     TEXT,
    created_at      TIMESTAMPTZ,
    updated_at      TIMESTAMPTZ NOT NULL,
    version         BIGINT NOT NULL DEFAULT 0,
    occurred_at     TIMESTAMPTZ NOT NULL,
    last_event_id   TEXT NOT NULL
);
CREATE INDEX gift_cards_status_idx ON gift_cards (status);
CREATE INDEX gift_cards_purchaser_idx ON gift_cards (purchaser_id);
CREATE INDEX gift_cards_expires_at_idx ON gift_cards (expires_at) WHERE status IN ('active', 'partially_redeemed');
CREATE INDEX gift_cards_created_at_idx ON gift_cards (created_at);

CREATE TABLE gift_card_transactions (
    id               TEXT PRIMARY KEY,
    event_id         TEXT NOT NULL UNIQUE,
    gift_card_key    TEXT NOT NULL,
    transaction_type TEXT NOT NULL CHECK (transaction_type IN ('creation', 'redemption', 'refund', 'transfer_in', 'transfer_out', 'transfer_reversal', 'void', 'expiry')),
    amount           NUMERIC NOT NULL,
    balance_before   NUMERIC NOT NULL CHECK (balance_before >= 0),
    balance_after    NUMERIC NOT NULL CHECK (balance_after >= 0),
    currency         TEXT NOT NULL,
    order_id         TEXT,
    reference_id     TEXT,
    metadata         JSONB NOT NULL DEFAULT '{}',
    created_at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX gift_card_transactions_card_idx ON gift_card_transactions (gift_card_key, created_at);
CREATE INDEX gift_card_transactions_order_idx ON gift_card_transactions (order_id) WHERE order_id IS NOT NULL;
CREATE INDEX gift_card_transactions_reference_idx ON gift_card_transactions (reference_id) WHERE reference_id IS NOT NULL;
CREATE INDEX gift_card_transactions_created_at_idx ON gift_card_transactions (created_at);

CREATE TABLE return_requests (
    id                 TEXT PRIMARY KEY,
    order_id           TEXT NOT NULL,
    customer_id        TEXT NOT NULL,
    -- The seed's eight states, plus the completion saga's.
    status             TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'shipped', 'received', 'inspecting', 'completed', 'rejected', 'cancelled',
                                                       'refunding', 'restocking', 'refund_failed', 'requires_action')),
    reason             TEXT NOT NULL,
    description        TEXT,
    refund_method      TEXT,
    currency           TEXT,
    estimated_refund   NUMERIC,
    actual_refund      NUMERIC,
    restocking_fee     NUMERIC,
    shipping_label_url TEXT,
    tracking_number    TEXT,
    approved_by        TEXT,
    approved_at        TIMESTAMPTZ,
    received_at        TIMESTAMPTZ,
    completed_at       TIMESTAMPTZ,
    rejected_at        TIMESTAMPTZ,
    cancelled_at       TIMESTAMPTZ,
    created_at         TIMESTAMPTZ,
    updated_at         TIMESTAMPTZ NOT NULL,
    version            BIGINT NOT NULL DEFAULT 0,
    occurred_at        TIMESTAMPTZ NOT NULL,
    last_event_id      TEXT NOT NULL
);
CREATE INDEX return_requests_order_idx ON return_requests (order_id);
CREATE INDEX return_requests_customer_idx ON return_requests (customer_id, created_at);
CREATE INDEX return_requests_status_idx ON return_requests (status);
CREATE INDEX return_requests_created_at_idx ON return_requests (created_at);

CREATE TABLE return_items (
    return_request_id  TEXT NOT NULL,
    line_item_id       TEXT NOT NULL,
    product_id         TEXT NOT NULL,
    quantity_requested INTEGER NOT NULL CHECK (quantity_requested > 0),
    quantity_received  INTEGER NOT NULL DEFAULT 0 CHECK (quantity_received >= 0),
    expected_condition TEXT CHECK (expected_condition IN ('new', 'opened', 'damaged')),
    actual_condition   TEXT CHECK (actual_condition IN ('sellable', 'damaged', 'unsellable')),
    unit_refund_amount NUMERIC,
    restockable        BOOLEAN,
    notes              TEXT,
    created_at         TIMESTAMPTZ,
    updated_at         TIMESTAMPTZ NOT NULL,
    version            BIGINT NOT NULL DEFAULT 0,
    occurred_at        TIMESTAMPTZ NOT NULL,
    last_event_id      TEXT NOT NULL,
    PRIMARY KEY (return_request_id, line_item_id)
);
CREATE INDEX return_items_product_idx ON return_items (product_id);

CREATE TABLE return_audit_logs (
    id                BIGSERIAL PRIMARY KEY,
    event_id          TEXT NOT NULL UNIQUE,
    return_request_id TEXT NOT NULL,
    action            TEXT NOT NULL,
    actor_id          TEXT,
    actor_type        TEXT,
    previous_state    TEXT,
    new_state         TEXT NOT NULL,
    metadata          JSONB NOT NULL DEFAULT '{}',
    created_at        TIMESTAMPTZ NOT NULL
);
CREATE INDEX return_audit_logs_return_idx ON return_audit_logs (return_request_id, created_at);
CREATE INDEX return_audit_logs_created_at_idx ON return_audit_logs (created_at);

CREATE TABLE user_interactions (
    id               BIGSERIAL PRIMARY KEY,
    event_id         TEXT NOT NULL UNIQUE,
    user_id          TEXT NOT NULL,
    product_id       TEXT NOT NULL,
    interaction_type TEXT NOT NULL CHECK (interaction_type IN ('view', 'cart_add', 'purchase', 'wishlist')),
    weight           DOUBLE PRECISION NOT NULL,
    metadata         JSONB NOT NULL DEFAULT '{}',
    created_at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX user_interactions_user_idx ON user_interactions (user_id, created_at);
CREATE INDEX user_interactions_product_idx ON user_interactions (product_id, created_at);
CREATE INDEX user_interactions_type_idx ON user_interactions (interaction_type, created_at);
CREATE INDEX user_interactions_created_at_idx ON user_interactions (created_at);

CREATE TABLE product_similarities (
    product_id         TEXT NOT NULL,
    similar_product_id TEXT NOT NULL,
    similarity_type    TEXT NOT NULL,
    similarity_score   DOUBLE PRECISION NOT NULL CHECK (similarity_score >= 0 AND similarity_score <= 1),
    updated_at         TIMESTAMPTZ NOT NULL,
    version            BIGINT NOT NULL DEFAULT 0,
    occurred_at        TIMESTAMPTZ NOT NULL,
    last_event_id      TEXT NOT NULL,
    PRIMARY KEY (product_id, similarity_type, similar_product_id)
);
CREATE INDEX product_similarities_score_idx ON product_similarities (product_id, similarity_type, similarity_score DESC);

CREATE TABLE recommendation_cache (
    user_id         TEXT NOT NULL,
    strategy        TEXT NOT NULL,
    recommendations JSONB NOT NULL,
    expires_at      TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL,
    version         BIGINT NOT NULL DEFAULT 0,
    occurred_at     TIMESTAMPTZ NOT NULL,
    last_event_id   TEXT NOT NULL,
    PRIMARY KEY (user_id, strategy)
);
CREATE INDEX recommendation_cache_expires_at_idx ON recommendation_cache (expires_at);

-- sink_offsets holds, per sink and topic partition, the next offset to
-- consume. It is written in the same transaction as the rows it covers.
CREATE TABLE sink_offsets (
    sink        TEXT NOT NULL,
    topic       TEXT NOT NULL,
    partition   INTEGER NOT NULL,
    next_offset BIGINT NOT NULL CHECK (next_offset >= 0),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (sink, topic, partition)
);

-- +goose Down
DROP TABLE sink_offsets;
DROP TABLE recommendation_cache;
DROP TABLE product_similarities;
DROP TABLE user_interactions;
DROP TABLE return_audit_logs;
DROP TABLE return_items;
DROP TABLE return_requests;
DROP TABLE gift_card_transactions;
DROP TABLE gift_cards;
