-- migrate:up
-- The API contract (PRD §4, the user guide): deleted jobs, per-minute rate limits and
-- storage quotas of keys, and the PRD FR-6.1 job report as a view.
ALTER TABLE jobs DROP CONSTRAINT jobs_status_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_status_check
    CHECK (status IN ('pending','validating','processing','completed','failed','cancelled','deleted'));

ALTER TABLE api_keys ADD COLUMN rate_limit_per_minute integer CHECK (rate_limit_per_minute > 0);
ALTER TABLE api_keys ADD COLUMN storage_quota_bytes bigint CHECK (storage_quota_bytes > 0);
ALTER TABLE usage_stats ADD COLUMN bytes_deleted bigint NOT NULL DEFAULT 0;

-- What the API accepted (202) and for whom, written by the API at once: the job is visible
-- to its submitter as `pending` before ingest's first fact is projected. Not job state.
CREATE TABLE submissions (
    job_id        uuid PRIMARY KEY,
    api_key_id    uuid,
    source_bucket text NOT NULL,
    source_key    text NOT NULL,
    size_bytes    bigint NOT NULL,
    priority      integer NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- PRD FR-6.1: what an operator queries of a job, one row per job, in the PRD's column
-- names: output paths and sizes, HLS segment figures, per-task seconds, compression
-- ratios, transcription figures, error and retry count. Read from `jobs` and `tasks`
-- (kept by the projector), so a rebuild reproduces it.
CREATE VIEW job_report AS
SELECT j.id, j.api_key_id, j.status, j.origin AS source_type, j.source_bucket || '/' || j.source_key AS source_path,
       j.created_at, j.updated_at, j.completed_at, j.priority, j.user_metadata, j.original_filename,
       j.file_size_bytes, j.duration_seconds,
       CASE WHEN j.display_width IS NOT NULL THEN j.display_width || 'x' || j.display_height END AS source_resolution,
       j.display_width AS source_width, j.display_height AS source_height, j.container AS source_format,
       j.video_codec AS source_codec, j.bitrate AS source_bitrate, j.fps AS source_fps, j.audio_codec,
       j.audio_bitrate, j.audio_sample_rate, j.progress_percent, j.current_task,
       max(t.outputs -> 0 ->> 'key') FILTER (WHERE t.name = 'video_360p') AS output_360p_path,
       max(t.outputs -> 0 ->> 'key') FILTER (WHERE t.name = 'video_720p') AS output_720p_path,
       max(t.outputs -> 0 ->> 'key') FILTER (WHERE t.name = 'audio_mp3') AS output_audio_path,
       max(t.outputs -> 0 ->> 'key') FILTER (WHERE t.name = 'hls_360p') AS output_hls_360p_path,
       max(t.outputs -> 0 ->> 'key') FILTER (WHERE t.name = 'hls_720p') AS output_hls_720p_path,
       max(t.details ->> 'primary') FILTER (WHERE t.name IN ('thumbnails', 'thumbnail_custom')) AS thumbnail_path,
       max(t.outputs -> 0 ->> 'key') FILTER (WHERE t.name = 'thumbnail_custom') AS thumbnail_custom_path,
       max((t.outputs -> 0 ->> 'size_bytes')::bigint) FILTER (WHERE t.name = 'thumbnail_custom')
           AS thumbnail_custom_size_bytes,
       (SELECT o ->> 'key' FROM tasks tt, jsonb_array_elements(tt.outputs) o WHERE tt.job_id = j.id
        AND tt.name = 'transcription' AND o ->> 'key' LIKE '%.txt' LIMIT 1) AS transcription_txt_path,
       (SELECT o ->> 'key' FROM tasks tt, jsonb_array_elements(tt.outputs) o WHERE tt.job_id = j.id
        AND tt.name = 'transcription' AND o ->> 'key' LIKE '%.srt' LIMIT 1) AS transcription_srt_path,
       (SELECT o ->> 'key' FROM tasks tt, jsonb_array_elements(tt.outputs) o WHERE tt.job_id = j.id
        AND tt.name = 'transcription' AND o ->> 'key' LIKE '%.vtt' LIMIT 1) AS transcription_vtt_path,
       (SELECT o ->> 'key' FROM tasks tt, jsonb_array_elements(tt.outputs) o WHERE tt.job_id = j.id
        AND tt.name = 'transcription' AND o ->> 'key' LIKE '%.json' LIMIT 1) AS transcription_json_path,
       max(t.outputs -> 0 ->> 'key') FILTER (WHERE t.name = 'metadata') AS metadata_json_path,
       max((t.outputs -> 0 ->> 'size_bytes')::bigint) FILTER (WHERE t.name = 'video_360p') AS output_360p_size_bytes,
       max((t.outputs -> 0 ->> 'size_bytes')::bigint) FILTER (WHERE t.name = 'video_720p') AS output_720p_size_bytes,
       max((t.outputs -> 0 ->> 'size_bytes')::bigint) FILTER (WHERE t.name = 'audio_mp3') AS output_audio_size_bytes,
       max((t.details ->> 'segment_count')::integer) FILTER (WHERE t.name = 'hls_360p') AS segments_360p_count,
       max((t.details ->> 'segment_count')::integer) FILTER (WHERE t.name = 'hls_720p') AS segments_720p_count,
       max((t.details ->> 'segments_size_bytes')::bigint) FILTER (WHERE t.name = 'hls_360p') AS segments_360p_size_bytes,
       max((t.details ->> 'segments_size_bytes')::bigint) FILTER (WHERE t.name = 'hls_720p') AS segments_720p_size_bytes,
       CASE WHEN j.completed_at IS NOT NULL THEN extract(epoch FROM j.completed_at - j.created_at) END
           AS processing_time_seconds,
       max(t.processing_seconds) FILTER (WHERE t.name = 'video_360p') AS transcode_360p_time_seconds,
       max(t.processing_seconds) FILTER (WHERE t.name = 'video_720p') AS transcode_720p_time_seconds,
       max(t.processing_seconds) FILTER (WHERE t.name = 'audio_mp3') AS audio_extraction_time_seconds,
       max(t.processing_seconds) FILTER (WHERE t.name = 'transcription') AS transcription_time_seconds,
       j.transcription_language, j.word_count AS transcription_word_count, j.whisper_model,
       max((t.outputs -> 0 ->> 'compression_ratio')::float8) FILTER (WHERE t.name = 'video_360p')
           AS compression_ratio_360p,
       max((t.outputs -> 0 ->> 'compression_ratio')::float8) FILTER (WHERE t.name = 'video_720p')
           AS compression_ratio_720p,
       CASE WHEN j.file_size_bytes > 0 AND count(*) FILTER (WHERE t.kind = 'transcode' AND t.status = 'completed') > 0
            THEN round(((1 - coalesce(sum((t.outputs -> 0 ->> 'size_bytes')::bigint)
                                      FILTER (WHERE t.kind = 'transcode' AND t.status = 'completed'), 0)::numeric
                             / j.file_size_bytes) * 100)::numeric, 1)::float8 END AS total_saved_percent,
       j.error_code, j.error_message,
       coalesce(sum(greatest(t.attempts - 1, 0)), 0)::integer AS retry_count
FROM jobs j
LEFT JOIN tasks t ON t.job_id = j.id
GROUP BY j.id;

-- migrate:down
DROP VIEW job_report;
DROP TABLE submissions;
ALTER TABLE usage_stats DROP COLUMN bytes_deleted;
ALTER TABLE api_keys DROP COLUMN storage_quota_bytes;
ALTER TABLE api_keys DROP COLUMN rate_limit_per_minute;
ALTER TABLE jobs DROP CONSTRAINT jobs_status_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_status_check
    CHECK (status IN ('pending','validating','processing','completed','failed','cancelled'));
