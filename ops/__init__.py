"""Shared runtime of Transcode Flow: settings, NATS (connect, definitions, consumer loop),
facts and objects as handler protocols, the handler skeleton, object store, submission,
webhook policy, logging, metrics, the embedded stack and the CLI."""
