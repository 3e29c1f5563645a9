import hashlib
import hmac
import socket

import pytest

from tflow.webhooks import WebhookRefused, check_webhook_url, sign


def resolver(*addresses):
    def resolve(host, port, proto=0):
        return [(socket.AF_INET, socket.SOCK_STREAM, proto, "", (a, port)) for a in addresses]
    return resolve


@pytest.mark.parametrize("ip", ["127.0.0.1", "10.1.2.3", "172.16.0.9", "192.168.1.1", "169.254.169.254",
                                "0.0.0.0", "224.0.0.1", "::1", "fd00::1", "fe80::1"])
def test_non_public_destinations_are_refused(ip):
    with pytest.raises(WebhookRefused, match="non-public"):
        check_webhook_url("https://hooks.example.com/x", resolve=resolver(ip))


def test_any_private_address_among_several_refuses():
    with pytest.raises(WebhookRefused):
        check_webhook_url("https://hooks.example.com/x", resolve=resolver("93.184.216.34", "10.0.0.1"))


def test_public_allowed_and_overrides():
    assert check_webhook_url("https://hooks.example.com/x", resolve=resolver("93.184.216.34"))
    assert check_webhook_url("http://127.0.0.1:9000/x", allow_private=True)
    assert check_webhook_url("http://127.0.0.1:9000/x", allowed_hosts=["127.0.0.1:9000"], resolve=resolver("127.0.0.1"))
    with pytest.raises(WebhookRefused):
        check_webhook_url("http://127.0.0.1:9001/x", allowed_hosts=["127.0.0.1:9000"], resolve=resolver("127.0.0.1"))
    for bad in ("ftp://example.com/x", "file:///etc/passwd", "http:///nohost", "x" * 3000):
        with pytest.raises(WebhookRefused):
            check_webhook_url(bad, resolve=resolver("93.184.216.34"))


def test_signature_is_hmac_sha256_of_the_body():
    body = b'{"event":"job.completed"}'
    assert sign("whsec_s", body) == "sha256=" + hmac.new(b"whsec_s", body, hashlib.sha256).hexdigest()
