-- Discovery counts, added up by every writer. Portable SQL: SQLite and PostgreSQL run it as is.
CREATE TABLE IF NOT EXISTS discovery_endpoints (
    host TEXT NOT NULL,
    method TEXT NOT NULL,
    template TEXT NOT NULL,
    calls BIGINT NOT NULL,
    first_seen TEXT,
    last_seen TEXT,
    PRIMARY KEY (host, method, template)
);
CREATE INDEX IF NOT EXISTS discovery_endpoints_last_seen ON discovery_endpoints (last_seen);
CREATE TABLE IF NOT EXISTS discovery_endpoint_statuses (
    host TEXT NOT NULL,
    method TEXT NOT NULL,
    template TEXT NOT NULL,
    status INTEGER NOT NULL,
    calls BIGINT NOT NULL,
    PRIMARY KEY (host, method, template, status)
);
-- kind: request_class, response_class or auth
CREATE TABLE IF NOT EXISTS discovery_endpoint_tags (
    host TEXT NOT NULL,
    method TEXT NOT NULL,
    template TEXT NOT NULL,
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (host, method, template, kind, value)
);
CREATE TABLE IF NOT EXISTS discovery_ai (
    host TEXT NOT NULL,
    provider TEXT NOT NULL,
    via_gateway INTEGER NOT NULL,
    calls BIGINT NOT NULL,
    PRIMARY KEY (host, provider, via_gateway)
);
CREATE TABLE IF NOT EXISTS discovery_ai_models (
    host TEXT NOT NULL,
    provider TEXT NOT NULL,
    via_gateway INTEGER NOT NULL,
    model TEXT NOT NULL,
    PRIMARY KEY (host, provider, via_gateway, model)
);
CREATE TABLE IF NOT EXISTS discovery_flows (
    from_node TEXT NOT NULL,
    to_node TEXT NOT NULL,
    calls BIGINT NOT NULL,
    PRIMARY KEY (from_node, to_node)
);
CREATE TABLE IF NOT EXISTS discovery_flow_classes (
    from_node TEXT NOT NULL,
    to_node TEXT NOT NULL,
    class TEXT NOT NULL,
    PRIMARY KEY (from_node, to_node, class)
);
