-- migrate:up
-- Search inside videos: every transcribed line of every job, folded by the projector from
-- `transcript_text` facts (a rebuild reproduces it). `tsv` holds the line's words twice:
-- stemmed in the transcript's language (`config`, from Whisper's language code) and as
-- they are (`simple`), so a query matches exact words in any language and stems in its own.
CREATE TABLE transcript_lines (
    job_id         uuid NOT NULL,
    line           integer NOT NULL,
    start_seconds  double precision NOT NULL,
    end_seconds    double precision NOT NULL,
    text           text NOT NULL,
    language       text NOT NULL,
    config         regconfig NOT NULL,
    tsv            tsvector GENERATED ALWAYS AS (to_tsvector(config, text) || to_tsvector('simple'::regconfig, text)) STORED,
    PRIMARY KEY (job_id, line)
);
CREATE INDEX transcript_lines_tsv ON transcript_lines USING gin (tsv);
-- one document per job (its whole transcript, indexed the same way) to rank jobs by; the
-- lines give the moments of the jobs on the page
CREATE TABLE transcript_docs (
    job_id  uuid PRIMARY KEY,
    config  regconfig NOT NULL,
    tsv     tsvector NOT NULL
);
CREATE INDEX transcript_docs_tsv ON transcript_docs USING gin (tsv);
CREATE INDEX transcript_docs_config ON transcript_docs (config);
-- the user metadata's values, searchable the same way
CREATE INDEX jobs_user_metadata_tsv ON jobs USING gin (jsonb_to_tsvector('simple'::regconfig, user_metadata, '["string", "numeric"]'));

-- A job's facts as a timeline (everything but progress), for the job page.
CREATE TABLE job_facts (
    job_id   uuid NOT NULL,
    seq      bigint NOT NULL,
    at       timestamptz NOT NULL,
    type     text NOT NULL,
    task     text,
    summary  text NOT NULL,
    PRIMARY KEY (job_id, seq)
);

-- migrate:down
DROP TABLE job_facts;
DROP INDEX jobs_user_metadata_tsv;
DROP TABLE transcript_docs;
DROP TABLE transcript_lines;
