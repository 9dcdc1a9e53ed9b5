DROP TABLE sync_devices;
