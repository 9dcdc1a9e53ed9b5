-- No personal ID number is kept anywhere but as its keyed hash and last four digits
-- (issue #13). Earlier versions kept plain SHA-256 digests of requests and pushed
-- operations that could hold the number, and stored conflict bodies as sent.
-- Idempotency records live 24 hours: drop them (their request hashes are now keyed).
DELETE FROM idempotency_keys;
-- Applied trainee operations: their digests covered the raw number. A phone that sends
-- one again gets the same answer from the trainee's own replay check.
DELETE FROM sync_ops WHERE entity = 'trainee';
-- Reported conflicts: keep only the last four digits of a number (SQL cannot compute the
-- keyed hash; applying such a report asks for the number again).
UPDATE sync_conflicts
SET device_body = json_set(device_body, '$.personal_id', '********' || substr(json_extract(device_body, '$.personal_id'), -4))
WHERE json_valid(device_body) AND json_type(device_body, '$.personal_id') = 'text';
