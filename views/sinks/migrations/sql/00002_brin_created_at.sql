-- +goose Up
-- Append-only tables are written in created_at order, so a BRIN index
-- answers time-window queries ("interactions of the last 24 hours") at a
-- fraction of a B-tree's write cost. Queries by type go through the user
-- index (by user, then type).
DROP INDEX user_interactions_type_idx;
DROP INDEX user_interactions_created_at_idx;
CREATE INDEX user_interactions_created_at_brin ON user_interactions USING brin (created_at);
DROP INDEX gift_card_transactions_created_at_idx;
CREATE INDEX gift_card_transactions_created_at_brin ON gift_card_transactions USING brin (created_at);
DROP INDEX return_audit_logs_created_at_idx;
CREATE INDEX return_audit_logs_created_at_brin ON return_audit_logs USING brin (created_at);

-- +goose Down
DROP INDEX return_audit_logs_created_at_brin;
CREATE INDEX return_audit_logs_created_at_idx ON return_audit_logs (created_at);
DROP INDEX gift_card_transactions_created_at_brin;
CREATE INDEX gift_card_transactions_created_at_idx ON gift_card_transactions (created_at);
DROP INDEX user_interactions_created_at_brin;
CREATE INDEX user_interactions_created_at_idx ON user_interactions (created_at);
CREATE INDEX user_interactions_type_idx ON user_interactions (interaction_type, created_at);
