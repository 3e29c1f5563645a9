import hashlib
import hmac
import socket

import pytest

from intake.webhooks import WebhookRefused, check_webhook_url, sign


def resolver(*addresses):
    def resolve(host, port, proto=0):
        return [(socket.AF_INET, socket.SOCK_STREAM, proto, "", (a, port)) for a in addresses]
    return resolve


@pytest.mark.parametrize("ip", ["127.0.0.1", "10.1.2.3", "172.16.0.9", "192.168.1.1", "169.254.169.254",
                                "0.0.0.0", "224.0.0.1", "::1", "fd00::1", "fe80::1",
                                # finding 10 of the security issue: ranges a list of classes missed
                                "100.64.0.1", "100.100.100.200", "192.0.0.8", "198.18.0.1",
                                "2002:7f00:1::1", "2002:a9fe:a9fe::", "::ffff:127.0.0.1", "::ffff:10.0.0.1",
                                "64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe", "2001:0:4136:e378:8000:63bf:80ff:fffe"])
def test_non_public_destinations_are_refused(ip):
    with pytest.raises(WebhookRefused, match="not a globally routable"):
        check_webhook_url("https://hooks.example.com/x", resolve=resolver(ip))


def test_the_checked_address_is_the_one_connected_to():
    """No DNS rebinding window: the delivery URL carries the checked IP, the Host header and
    TLS server name the original host."""
    pinned = check_webhook_url("https://hooks.example.com:8443/x?y=1", resolve=resolver("93.184.216.34"))
    assert pinned.url == "https://93.184.216.34:8443/x?y=1"
    assert (pinned.host_header, pinned.sni_hostname) == ("hooks.example.com:8443", "hooks.example.com")
    v6 = check_webhook_url("http://hooks.example.com/x", resolve=resolver("2606:4700::1111"))
    assert (v6.url, v6.host_header, v6.sni_hostname) == ("http://[2606:4700::1111]:80/x", "hooks.example.com", None)


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
