-- migrate:up
-- Read model of the JOBS stream (PRD jobs/tasks schema, in Postgres syntax: indexes are
-- separate CREATE INDEX statements). Written only by the projector; every timestamp is
-- the time of the fact that set it, so a rebuild from the stream reproduces the rows.

CREATE TABLE jobs (
    id                      uuid PRIMARY KEY,
    status                  text NOT NULL
                            CHECK (status IN ('pending','validating','processing','completed','failed','cancelled')),
    origin                  text NOT NULL,
    source_bucket           text NOT NULL,
    source_key              text NOT NULL,
    source_etag             text NOT NULL,
    source_version_id       text,
    original_filename       text NOT NULL,
    file_size_bytes         bigint NOT NULL,
    container               text,
    duration_seconds        double precision,
    bitrate                 bigint,
    video_codec             text,
    width                   integer,
    height                  integer,
    display_width           integer,
    display_height          integer,
    fps                     double precision,
    video_bitrate           bigint,
    pixel_format            text,
    rotation                integer,
    audio_codec             text,
    audio_bitrate           bigint,
    audio_sample_rate       integer,
    audio_channels          integer,
    probe                   jsonb,
    plan                    jsonb NOT NULL DEFAULT '[]'::jsonb,
    user_metadata           jsonb NOT NULL DEFAULT '{}'::jsonb,
    priority                smallint NOT NULL DEFAULT 5 CHECK (priority BETWEEN 1 AND 10),
    webhook_url             text,
    api_key_id              uuid,
    transcription_language  text,
    whisper_model           text,
    word_count              integer,
    progress_percent        real NOT NULL DEFAULT 0,
    current_task            text,
    error_code              text,
    error_message           text,
    outputs                 jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at              timestamptz NOT NULL,
    updated_at              timestamptz NOT NULL,
    started_at              timestamptz,
    completed_at            timestamptz,
    last_seq                bigint NOT NULL
);

CREATE INDEX jobs_status_created_idx ON jobs (status, created_at DESC);
CREATE INDEX jobs_created_idx ON jobs (created_at DESC);
CREATE INDEX jobs_completed_idx ON jobs (completed_at DESC);
CREATE INDEX jobs_priority_idx ON jobs (priority DESC, created_at);
CREATE INDEX jobs_api_key_idx ON jobs (api_key_id, created_at DESC);
CREATE INDEX jobs_source_idx ON jobs (source_bucket, source_key);
CREATE INDEX jobs_user_metadata_gin ON jobs USING gin (user_metadata jsonb_path_ops);

CREATE TABLE tasks (
    job_id            uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    name              text NOT NULL,
    kind              text NOT NULL,
    rendition         text,
    status            text NOT NULL
                      CHECK (status IN ('pending','processing','completed','failed','cancelled')),
    progress_percent  real NOT NULL DEFAULT 0,
    speed             real,
    eta_seconds       real,
    attempts          integer NOT NULL DEFAULT 0,
    worker            text,
    outputs           jsonb NOT NULL DEFAULT '[]'::jsonb,
    details           jsonb NOT NULL DEFAULT '{}'::jsonb,
    error_code        text,
    error_message     text,
    processing_seconds double precision,
    started_at        timestamptz,
    completed_at      timestamptz,
    updated_at        timestamptz NOT NULL,
    PRIMARY KEY (job_id, name)
);

CREATE INDEX tasks_status_idx ON tasks (status);

-- The projector's checkpoint: last JOBS stream sequence applied, committed with the rows.
CREATE TABLE projector_checkpoint (
    projection  text PRIMARY KEY,
    last_seq    bigint NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO projector_checkpoint (projection, last_seq) VALUES ('jobs', 0);

-- migrate:down
DROP TABLE projector_checkpoint;
DROP TABLE tasks;
DROP TABLE jobs;
