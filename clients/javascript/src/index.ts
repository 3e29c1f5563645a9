/**
 * Transcode Flow API client (ES module; Node 20+ and browsers: only fetch, FormData,
 * Blob and streams are used). Canonical `/api/v1` routes, `X-API-Key` header.
 *
 *   const tf = new TranscodeFlowClient("http://127.0.0.1:8000", "tf_...");
 *   const { job_id } = await tf.uploadVideo(file, "lecture.mp4", { priority: 5 });
 *   const job = await tf.waitForCompletion(job_id);
 *   const { download_url } = await tf.getDownloadUrl(job_id, "360p");
 *
 * A 429 (or a 409 `not_ready`: a job accepted a moment ago is still being received) is
 * retried after its Retry-After, `maxRetries` times.
 * Units: seconds, bytes, percent. Errors are `ApiError` with the API's machine `code`.
 */

/** Job statuses after which nothing changes (PRD: completed, failed; ours: cancelled, deleted). */
export const TERMINAL: ReadonlySet<string> = new Set(["completed", "failed", "cancelled", "deleted"]);

/** One task of a job (PRD names: `transcode_360p`, `prepare_hls_720p`, `transcribe_video`, ...). */
export interface Task {
  name: string;
  task: string | null;
  status: string;
  progress_percent: number;
  eta_seconds: number | null;
  duration_seconds: number | null;
  output_size_mb: number | null;
  [extra: string]: unknown;
}

/** The job document (PRD §4). `outputs` is keyed by rendition ("360p", "720p"), "audio", ... */
export interface Job {
  job_id: string;
  status: string;
  progress_percent: number;
  current_task: string | null;
  priority: number;
  created_at: string;
  completed_at: string | null;
  processing_time_seconds: number | null;
  user_metadata: Record<string, unknown>;
  video_info: Record<string, unknown> | null;
  outputs: Record<string, any> | null;
  compression: Record<string, number | null> | null;
  error: { code: string | null; message: string | null } | null;
  tasks?: Task[];
  [extra: string]: unknown;
}

/** One page of jobs. */
export interface JobPage {
  total: number;
  page: number;
  per_page: number;
  pages: number;
  jobs: Job[];
}

/** A submission's 202 answer. */
export interface Submitted {
  job_id: string;
  status: string;
  message: string;
  filename: string;
  created_at: string;
  priority: number;
  status_url: string;
}

/** A presigned download URL. */
export interface DownloadUrl {
  download_url: string;
  expires_at: string;
  key: string;
}

/** A playlist URL for an HLS player, with its stream token. */
export interface StreamingToken {
  playlist_url: string;
  token: string;
  expires_at: string;
}

/** One Server-Sent Event's data: `progress` is the job's percent. */
export interface ProgressEvent {
  job_id: string;
  status: string;
  progress: number;
  current_task: string | null;
  error: { code: string | null; message: string | null } | null;
  tasks: Array<Record<string, unknown>>;
}

/** An error answer (4xx/5xx): HTTP status, the API's `code`, `message`, `details`. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: unknown = null,
    readonly retryAfterSeconds: number | null = null,
  ) {
    super(`${status} ${code}: ${message}`);
    this.name = "ApiError";
  }
}

export interface UploadOptions {
  priority?: number;
  thumbnail?: Blob;
  metadata?: Record<string, unknown>;
  webhookUrl?: string;
}

export interface ClientOptions {
  /** 429 answers retried after their Retry-After (default 3). */
  maxRetries?: number;
  /** A fetch implementation (default: the global one). */
  fetch?: typeof fetch;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Parse Server-Sent Events from a byte stream: yields `[event, data]` pairs. */
export async function* parseSse(body: ReadableStream<Uint8Array>): AsyncGenerator<[string, string]> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let event = "message";
  let data: string[] = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let nl: number;
    while ((nl = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, nl).replace(/\r$/, "");
      buffer = buffer.slice(nl + 1);
      if (line === "") {
        if (data.length) yield [event, data.join("\n")];
        event = "message";
        data = [];
      } else if (line.startsWith("event:")) {
        event = line.slice(6).trim();
      } else if (line.startsWith("data:")) {
        data.push(line.slice(5).replace(/^ /, ""));
      }
    }
  }
}

export class TranscodeFlowClient {
  readonly baseUrl: string;
  private readonly maxRetries: number;
  private readonly fetchFn: typeof fetch;

  constructor(baseUrl: string, private readonly apiKey: string, options: ClientOptions = {}) {
    this.baseUrl = baseUrl.replace(/\/+$/, "");
    this.maxRetries = options.maxRetries ?? 3;
    this.fetchFn = options.fetch ?? globalThis.fetch.bind(globalThis);
  }

  private async request<T>(method: string, path: string, body?: BodyInit, query?: Record<string, string>): Promise<T> {
    const url = new URL(this.baseUrl + path);
    for (const [k, v] of Object.entries(query ?? {})) url.searchParams.set(k, v);
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string> = { "X-API-Key": this.apiKey };
      if (typeof body === "string") headers["Content-Type"] = "application/json";
      const r = await this.fetchFn(url, { method, headers, body });
      try {
        return (await TranscodeFlowClient.check(r)) as T;
      } catch (e) {
        // a 429, or a 409 `not_ready` (a job accepted a moment ago is still being received)
        const retry = e instanceof ApiError && (e.status === 429 || e.code === "not_ready");
        if (!retry || attempt >= this.maxRetries) throw e;
        const wait = e.retryAfterSeconds ?? 1;
        await sleep((Number.isFinite(wait) ? wait : 1) * 1000);
      }
    }
  }

  private static async check(r: Response): Promise<unknown> {
    const text = await r.text();
    if (r.status >= 400) {
      let err: { code?: string; message?: string; details?: unknown } = {};
      try {
        err = JSON.parse(text).error ?? {};
      } catch {
        /* not the API's error shape (a proxy's page): the status says enough */
      }
      const retry = r.headers.get("retry-after");
      throw new ApiError(r.status, err.code ?? "error", err.message ?? text.slice(0, 200), err.details ?? null,
        retry !== null ? Number(retry) : null);
    }
    return text ? JSON.parse(text) : null;
  }

  /** Upload a video (a Blob or File; in Node, `fs.openAsBlob(path)` streams it from disk). */
  uploadVideo(file: Blob, filename: string, options: UploadOptions = {}): Promise<Submitted> {
    const form = new FormData();
    form.append("file", file, filename);
    form.append("priority", String(options.priority ?? 5));
    if (options.thumbnail) form.append("thumbnail", options.thumbnail, "thumbnail");
    if (options.metadata) form.append("metadata", JSON.stringify(options.metadata));
    if (options.webhookUrl) form.append("webhook_url", options.webhookUrl);
    return this.request<Submitted>("POST", "/api/v1/jobs/upload", form);
  }

  /** The job document. */
  getJob(jobId: string): Promise<Job> {
    return this.request<Job>("GET", `/api/v1/jobs/${encodeURIComponent(jobId)}`);
  }

  /** One page of the caller's jobs, newest first. */
  listJobs(status?: string, page = 1, perPage = 50): Promise<JobPage> {
    const query: Record<string, string> = { page: String(page), per_page: String(perPage) };
    if (status) query.status = status;
    return this.request<JobPage>("GET", "/api/v1/jobs", undefined, query);
  }

  /** Cancel a running job (409 `conflict` once it has ended). */
  cancelJob(jobId: string): Promise<{ message: string; job_id: string; status: string }> {
    return this.request("POST", `/api/v1/jobs/${encodeURIComponent(jobId)}/cancel`);
  }

  /** Delete a job (cancelled first if running); its outputs too with `deleteFiles`. */
  deleteJob(jobId: string, deleteFiles = false, deleteOriginal = false): Promise<Record<string, unknown>> {
    return this.request("POST", `/api/v1/jobs/${encodeURIComponent(jobId)}/delete`, undefined,
      { delete_files: String(deleteFiles), delete_original: String(deleteOriginal) });
  }

  /** A presigned URL of one output: `360p`, `720p`, `audio`, `transcript_vtt`, `thumbnail`, `metadata`, ... */
  getDownloadUrl(jobId: string, fileType: string): Promise<DownloadUrl> {
    return this.request("GET", `/api/v1/jobs/${encodeURIComponent(jobId)}/download/${encodeURIComponent(fileType)}`);
  }

  /** A playlist URL for an HLS player: `360p`, `720p` or `master`. */
  getStreamingToken(jobId: string, resolution = "master"): Promise<StreamingToken> {
    return this.request("GET",
      `/api/v1/streaming/token/${encodeURIComponent(jobId)}/${encodeURIComponent(resolution)}`);
  }

  /**
   * Follow the job's live events (SSE over fetch, so the key travels in a header):
   * `onProgress` for each `progress` event, `onComplete` once with the terminal state,
   * `onError` on a failure. Resolves when the stream ends; `signal` aborts it.
   */
  async streamProgress(jobId: string, onProgress: (e: ProgressEvent) => void,
    onComplete?: (e: ProgressEvent) => void, onError?: (e: unknown) => void,
    signal?: AbortSignal): Promise<void> {
    try {
      const r = await this.fetchFn(`${this.baseUrl}/api/v1/jobs/${encodeURIComponent(jobId)}/events`,
        { headers: { "X-API-Key": this.apiKey, Accept: "text/event-stream" }, signal });
      if (r.status >= 400 || !r.body) {
        await TranscodeFlowClient.check(r);
        throw new ApiError(r.status, "error", "no event stream");
      }
      for await (const [event, data] of parseSse(r.body)) {
        const doc = JSON.parse(data) as ProgressEvent;
        if (event === "complete") {
          onComplete?.(doc);
          return;
        }
        onProgress(doc);
      }
    } catch (e) {
      if (onError) onError(e);
      else throw e;
    }
  }

  /** Poll until the job ends (every `pollIntervalSeconds`); rejects after `timeoutSeconds`. */
  async waitForCompletion(jobId: string, timeoutSeconds = 3600, pollIntervalSeconds = 2): Promise<Job> {
    const deadline = Date.now() + timeoutSeconds * 1000;
    for (;;) {
      const job = await this.getJob(jobId);
      if (TERMINAL.has(job.status)) return job;
      if (Date.now() >= deadline) throw new Error(`job ${jobId} is still ${job.status} after ${timeoutSeconds} s`);
      await sleep(pollIntervalSeconds * 1000);
    }
  }
}
