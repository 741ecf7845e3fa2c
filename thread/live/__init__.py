"""Live telemetry: MQTT and OPC UA streams into channels through a session, detectors and
alerts on twins, and guarded set points back to the asset.

`ingest.ingest_mqtt` and `ingest.ingest_opcua` are the entry points; `mapping` says which
topics or nodes feed which channels; `payloads` decodes MQTT messages. Nothing here
imports paho-mqtt or asyncua until a stream starts."""
