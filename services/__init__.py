"""The Transcode Flow services; each runs as `tflow run <service>` or `python -m services.<service>`."""
