"""Backups and recovery (issue 29; PRD §9.3 schedule, §9.4 disaster recovery).

A backup repository (`TFLOW_BACKUP_DIR`, default `<data_dir>/backups`, or the DIR of
`tflow backup DIR`) holds snapshots that share one copy of each object's bytes:

    <repo>/snapshots/<id>/manifest.json   its parts, times and counts: rows per table, each
                                          stream's state, objects and what was copied
    <repo>/snapshots/<id>/postgres.dump   `pg_dump -Fc` in an exported snapshot (the row
                                          counts of the manifest are that snapshot's)
    <repo>/snapshots/<id>/jetstream/<S>/  `nats stream backup` of JOBS, MINIO and DLQ, with
                                          their consumers (positions) and state
    <repo>/snapshots/<id>/secrets/        the embedded stack's admin key, webhook and
                                          stream-token keys (0600)
    <repo>/snapshots/<id>/objects.json    every object: sha256, size, ETag, headers, metadata
    <repo>/blobs/<ab>/<sha256>            the bytes of objects, each stored once

A full snapshot has every part, the database dumped before the streams (so the
projector's checkpoint is never ahead of the facts); an objects snapshot copies only the
objects that are new or changed (ETag and size) since the newest one before it. A
snapshot is written under `snapshots/.partial-<id>` and renamed when whole; the newest
`TFLOW_BACKUP_KEEP` full snapshots are kept, with the objects snapshots taken after the
newest of them, and blobs no kept snapshot names are removed.
"""
