"""Secrets never reach a log line (security finding 12), and one record is one line."""

import logging

from runtime.observability.logs import RedactingFormatter, redact


def test_secrets_are_redacted():
    line = redact("GET /api/events/x/progress?api_key=tf_abcdefghijklmnopqrstuvwxyz012345&x=1 "
                  "http://127.0.0.1:8333/videos/raw/a.mp4?X-Amz-Credential=AK%2F2026&X-Amz-Signature=0123abcd "
                  "postgresql://postgres:s3cr3t@/tflow?host=/tmp "
                  "/api/v1/stream/1f491943-a612-582f-be4b-1c42aa5d48f8/1796118522.eadaa5a2/master.m3u8 "
                  "key tf_admin_Zm9vYmFyYmF6cXV4cXV1eDEyMzQ1Njc4")
    for secret in ("tf_abcdefghij", "0123abcd", "AK%2F2026", "s3cr3t", "1796118522.eadaa5a2", "Zm9vYmFy"):
        assert secret not in line
    assert "api_key=[redacted]" in line and "/master.m3u8" in line and "postgresql://postgres:[redacted]@" in line


def test_one_record_is_one_line():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "dropped %s", ("evil\nname.mp4",), None)
    assert RedactingFormatter("%(message)s").format(record) == "dropped evil\\nname.mp4"


def test_client_messages_carry_no_addresses():
    from runtime.observability.logs import without_addresses

    msg = ("ffmpeg exited with 1: http://127.0.0.1:8333/videos/raw/a.mp4?X-Amz-Signature=ab: Invalid data; "
           "HTTPConnectionPool(host='127.0.0.1', port=58901): Max retries exceeded")
    out = without_addresses(msg)
    assert "127.0.0.1" not in out and "X-Amz" not in out and "Invalid data" in out and "<url>" in out
