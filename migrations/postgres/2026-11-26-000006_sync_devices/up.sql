-- Devices that sync: one row per account and device (several members may share a phone),
-- with what the device last reported, so officers see who has not synced.
CREATE TABLE sync_devices (
    account_id TEXT NOT NULL REFERENCES users (id),
    device_id TEXT NOT NULL,
    commune_code TEXT,
    province_code TEXT,
    app_version TEXT,
    last_sync_at TIMESTAMP(6) NOT NULL,
    last_pull_at TIMESTAMP(6),
    last_push_at TIMESTAMP(6),
    last_operations INTEGER NOT NULL,
    last_rejects INTEGER NOT NULL,
    outbox_depth INTEGER,
    oldest_unsynced TIMESTAMP(6),
    PRIMARY KEY (account_id, device_id)
);
CREATE INDEX sync_devices_commune_idx ON sync_devices (commune_code, last_sync_at);
CREATE INDEX sync_devices_province_idx ON sync_devices (province_code, last_sync_at);
