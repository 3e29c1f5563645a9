// The TypeScript client (its compiled ES module) against a live stack when TFLOW_API_URL is
// set (tests/integration/test_clients.py sets it), and its SSE parser without one.
import { test } from "node:test";
import assert from "node:assert/strict";
import { openAsBlob } from "node:fs";
import { writeFile } from "node:fs/promises";
import { ApiError, TranscodeFlowClient, TERMINAL, parseSse } from "../dist/index.js";

const { TFLOW_API_URL, TFLOW_API_KEY, TFLOW_CLIP, TFLOW_OUT } = process.env;

function streamOf(...chunks) {
  return new ReadableStream({
    start(c) {
      for (const s of chunks) c.enqueue(new TextEncoder().encode(s));
      c.close();
    },
  });
}

test("parseSse: events split across chunks, comments and CRLF", async () => {
  const body = streamOf("event: progress\r\ndata: {\"progress\"", ": 5}\r\n\r\n: keep-alive\n\n",
    "event: complete\ndata: {\"progress\": 100}\n\n");
  const got = [];
  for await (const e of parseSse(body)) got.push(e);
  assert.deepEqual(got, [["progress", "{\"progress\": 5}"], ["complete", "{\"progress\": 100}"]]);
});

test("a clip from upload to a downloaded 360p MP4", { skip: !TFLOW_API_URL && "TFLOW_API_URL is not set" },
  async () => {
    const tf = new TranscodeFlowClient(TFLOW_API_URL, TFLOW_API_KEY);
    const file = await openAsBlob(TFLOW_CLIP);
    const sent = await tf.uploadVideo(file, "ts-client.flv", { priority: 6, metadata: { client: "typescript" } });
    assert.equal(sent.status, "pending");
    assert.equal(sent.priority, 6);
    const seen = [];
    let complete = null;
    await tf.streamProgress(sent.job_id, (e) => seen.push(e.progress), (e) => { complete = e; });
    assert.ok(complete && TERMINAL.has(complete.status), "the stream ends with a complete event");
    assert.equal(complete.status, "completed");
    assert.deepEqual(seen, [...seen].sort((a, b) => a - b), "progress only grows");
    const job = await tf.waitForCompletion(sent.job_id, 300, 0.5);
    assert.equal(job.status, "completed");
    assert.deepEqual(job.user_metadata, { client: "typescript" });
    assert.ok(job.outputs["360p"].video.size_bytes > 0);
    const page = await tf.listJobs("completed", 1, 100);
    assert.ok(page.jobs.some((j) => j.job_id === sent.job_id));
    const { download_url } = await tf.getDownloadUrl(sent.job_id, "360p");
    const mp4 = await fetch(download_url);
    assert.equal(mp4.status, 200);
    await writeFile(TFLOW_OUT, Buffer.from(await mp4.arrayBuffer()));
    const token = await tf.getStreamingToken(sent.job_id, "720p");
    const playlist = await (await fetch(token.playlist_url)).text();
    assert.match(playlist, /#EXT-X-ENDLIST/);
    await assert.rejects(tf.cancelJob(sent.job_id), (e) => e instanceof ApiError && e.status === 409
      && e.code === "conflict");
    await assert.rejects(tf.getJob("00000000-0000-0000-0000-000000000000"),
      (e) => e instanceof ApiError && e.code === "not_found");
    const deleted = await tf.deleteJob(sent.job_id, true);
    assert.equal(deleted.status, "deleted");
  });
