"""Live sources: MQTT and OPC UA streams into channels, through a `thread.live` session.

`run.ingest_mqtt` and `run.ingest_opcua` are the entry points; `mapping` says which
topics or nodes feed which channels; `payloads` decodes MQTT messages. Nothing here
imports paho-mqtt or asyncua until a stream starts.
"""

from __future__ import annotations

from importers.live.run import IngestOptions, StopSignal, ingest_mqtt, ingest_opcua

__all__ = ["IngestOptions", "StopSignal", "ingest_mqtt", "ingest_opcua"]
