"""The Transcode Flow services; each runs as `tflow run <service>` or `python -m services.<service>`.

Services never import each other (DESIGN.md: facts, not calls): what they share lives
below them in `contracts`, `media`, `readmodel` and `tflow`.
"""

#: Every service, in the order `tflow up` starts them (the one list of services).
SERVICES = ("projector", "ingest", "transcoder", "finalizer", "thumbnailer", "transcriber", "notifier", "api")
