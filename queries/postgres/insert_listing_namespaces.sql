-- Listing $1's namespaces, each from its first page.
INSERT INTO rule_namespaces (listing_id, namespace) SELECT $1, unnest($2::text[])
