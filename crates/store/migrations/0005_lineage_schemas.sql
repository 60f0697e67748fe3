-- Destinations recognised as data stores.
CREATE TABLE IF NOT EXISTS discovery_stores (
    node TEXT NOT NULL PRIMARY KEY,
    kind TEXT NOT NULL
);
-- Third-party data carried on by a caller to a store or AI provider.
CREATE TABLE IF NOT EXISTS discovery_lineage (
    source TEXT NOT NULL,
    via TEXT NOT NULL,
    sink TEXT NOT NULL,
    class TEXT NOT NULL,
    calls BIGINT NOT NULL,
    first_seen TEXT,
    last_seen TEXT,
    PRIMARY KEY (source, via, sink, class)
);
-- AI use per caller, summed like the totals.
CREATE TABLE IF NOT EXISTS discovery_ai_callers (
    host TEXT NOT NULL,
    provider TEXT NOT NULL,
    via_gateway INTEGER NOT NULL,
    caller TEXT NOT NULL,
    calls BIGINT NOT NULL,
    input_tokens BIGINT NOT NULL,
    output_tokens BIGINT NOT NULL,
    cost_micros BIGINT NOT NULL,
    PRIMARY KEY (host, provider, via_gateway, caller)
);
-- Fingerprints of the keys used for AI calls (never the keys).
CREATE TABLE IF NOT EXISTS discovery_ai_keys (
    host TEXT NOT NULL,
    provider TEXT NOT NULL,
    via_gateway INTEGER NOT NULL,
    fingerprint TEXT NOT NULL,
    PRIMARY KEY (host, provider, via_gateway, fingerprint)
);
-- Endpoint body schemas, place by place (path: a JSON array of property names, [] for
-- items): counts summed, types (one bit each) OR-ed, the string format kept while writers
-- agree ('' once they differ).
CREATE TABLE IF NOT EXISTS discovery_schema_fields (
    host TEXT NOT NULL,
    method TEXT NOT NULL,
    template TEXT NOT NULL,
    direction TEXT NOT NULL,
    path TEXT NOT NULL,
    seen BIGINT NOT NULL,
    objects BIGINT NOT NULL,
    types BIGINT NOT NULL,
    format TEXT,
    PRIMARY KEY (host, method, template, direction, path)
);
CREATE TABLE IF NOT EXISTS discovery_schema_classes (
    host TEXT NOT NULL,
    method TEXT NOT NULL,
    template TEXT NOT NULL,
    direction TEXT NOT NULL,
    path TEXT NOT NULL,
    class TEXT NOT NULL,
    PRIMARY KEY (host, method, template, direction, path, class)
);
