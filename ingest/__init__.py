"""MQTT ingest: decode, validate, batch and store GPS pings."""
