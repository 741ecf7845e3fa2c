"""Helpers the tests share: brokers, servers, stores and counts."""
