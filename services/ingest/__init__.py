"""ingest: object announcements (MinIO notifications, drop folder, sweep, API) -> validated jobs."""
