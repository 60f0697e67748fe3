-- AI use per model, key fingerprint and caller, per UTC day ('' when unknown), summed like the totals.
CREATE TABLE IF NOT EXISTS discovery_ai_usage (
    host TEXT NOT NULL,
    provider TEXT NOT NULL,
    via_gateway INTEGER NOT NULL,
    dimension TEXT NOT NULL,
    name TEXT NOT NULL,
    day TEXT NOT NULL,
    calls BIGINT NOT NULL,
    input_tokens BIGINT NOT NULL,
    output_tokens BIGINT NOT NULL,
    cost_micros BIGINT NOT NULL,
    PRIMARY KEY (host, provider, via_gateway, dimension, name, day)
);
