-- +goose Up
-- product_similarities holds exactly each product's latest neighbour list of
-- each similarity type: a newer list replaces the older one's rows (the
-- neighbours that dropped out are deleted), an older list changes nothing.
-- product_similarity_lists records, per product and type, the list the rows
-- are (version = the item's increment count, occurred_at, last_event_id),
-- so that a late older list can be recognized once its rows are gone.
CREATE TABLE product_similarity_lists (
    product_id      TEXT NOT NULL,
    similarity_type TEXT NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    version         BIGINT NOT NULL DEFAULT 0,
    occurred_at     TIMESTAMPTZ NOT NULL,
    last_event_id   TEXT NOT NULL,
    PRIMARY KEY (product_id, similarity_type)
);

-- The lists written so far: the newest event of each product and type, and
-- only its rows (the older lists' neighbours that it did not repeat were
-- never deleted). A list that was empty left no row, so a product whose
-- latest list of a type is empty keeps the type's older rows until its
-- next list.
INSERT INTO product_similarity_lists (product_id, similarity_type, updated_at, version, occurred_at, last_event_id)
SELECT DISTINCT ON (product_id, similarity_type) product_id, similarity_type, updated_at, version, occurred_at, last_event_id
FROM product_similarities
ORDER BY product_id, similarity_type, version DESC, occurred_at DESC, last_event_id DESC;
DELETE FROM product_similarities s USING product_similarity_lists l
WHERE s.product_id = l.product_id AND s.similarity_type = l.similarity_type AND s.last_event_id <> l.last_event_id;

-- +goose Down
-- The rows deleted by Up are not restored.
DROP TABLE product_similarity_lists;
