-- Listing ?1's namespaces (the JSON list ?2), each from its first page.
INSERT INTO rule_namespaces (listing_id, namespace) SELECT ?1, value FROM json_each(?2)
