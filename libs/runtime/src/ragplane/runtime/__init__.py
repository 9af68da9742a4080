"""Shared runtime for every ragplane service: settings, server lifecycle, auth, errors, telemetry, Kafka."""
