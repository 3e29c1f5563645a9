"""Transcode Flow API client: `Client` (sync) and `AsyncClient`, typed results, typed errors.

    from transcode_flow_client import Client
    with Client("http://127.0.0.1:8000", "tf_...") as tf:
        job = tf.upload_video("lecture.mp4", metadata={"title": "Lecture 1"})
        done = tf.wait_for_completion(job.job_id)
        print(tf.get_download_url(job.job_id, "360p").download_url)
"""

from transcode_flow_client.client import AsyncClient, Client, SseParser
from transcode_flow_client.errors import (
    ApiError,
    BadRequest,
    Conflict,
    Forbidden,
    Gone,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ServerError,
    Unauthorized,
    ValidationError,
)
from transcode_flow_client.models import TERMINAL, DownloadUrl, Job, JobPage, Progress, StreamingToken, Submitted, Task

__all__ = ["Client", "AsyncClient", "SseParser", "ApiError", "BadRequest", "Unauthorized", "Forbidden", "NotFound",
           "Conflict", "Gone", "PayloadTooLarge", "ValidationError", "RateLimited", "ServerError", "Job", "JobPage",
           "Task", "Submitted", "DownloadUrl", "StreamingToken", "Progress", "TERMINAL"]
