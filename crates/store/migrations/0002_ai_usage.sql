-- Tokens and cost of AI calls, summed like calls.
ALTER TABLE discovery_ai ADD COLUMN input_tokens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE discovery_ai ADD COLUMN output_tokens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE discovery_ai ADD COLUMN cost_micros BIGINT NOT NULL DEFAULT 0;
