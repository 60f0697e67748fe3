-- Findings per endpoint, detector and direction: counts summed, first and last seen kept.
CREATE TABLE IF NOT EXISTS discovery_findings (
    host TEXT NOT NULL,
    method TEXT NOT NULL,
    template TEXT NOT NULL,
    detector TEXT NOT NULL,
    direction TEXT NOT NULL,
    class TEXT NOT NULL,
    severity TEXT NOT NULL,
    owasp TEXT NOT NULL,
    count BIGINT NOT NULL,
    first_seen TEXT,
    last_seen TEXT,
    PRIMARY KEY (host, method, template, detector, direction)
);
