"""Tests for vantage6_common.crypto, including interoperability with published vantage6 4.14."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import textwrap

import pytest
from cryptography.hazmat.primitives.asymmetric import padding

from tests.published import published_python
from vantage6_common import crypto
from vantage6_common.crypto import (
    GCM_PREFIX,
    SCHEME_GCM,
    SCHEME_V6,
    SUPPORTED_SCHEMES,
    Cryptor,
    DecryptionError,
    DummyCryptor,
    detect_scheme,
)
from vantage6_common.scheme_policy import DowngradeRefused, SchemePolicy

PAYLOAD = json.dumps({"method": "summary_partial", "kwargs": {"columns": ["age", "ü"]}}).encode()


@pytest.fixture(scope="module")
def key_a():
    return crypto.generate_private_key()


@pytest.fixture(scope="module")
def key_b():
    return crypto.generate_private_key()


@pytest.fixture(scope="module")
def cryptor_a(key_a):
    return Cryptor(key_a)


@pytest.fixture(scope="module")
def cryptor_b(key_b):
    return Cryptor(key_b)


# ------------------------------------------------------------------------------------------
# keys
# ------------------------------------------------------------------------------------------
def test_generated_key_is_rsa_4096(key_a):
    assert key_a.key_size == 4096
    assert key_a.public_key().public_numbers().e == 65537


def test_save_and_load_private_key(tmp_path, key_a):
    path = crypto.save_private_key(key_a, tmp_path / "keys" / "private.pem")
    assert path.read_bytes().startswith(b"-----BEGIN RSA PRIVATE KEY-----")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = crypto.load_private_key(path)
    assert loaded.private_numbers() == key_a.private_numbers()
    assert crypto.load_private_key(path.read_bytes()).private_numbers() == key_a.private_numbers()


def test_load_or_create_private_key(tmp_path):
    path = tmp_path / "new.pem"
    first = crypto.load_or_create_private_key(path)
    assert path.exists()
    again = crypto.load_or_create_private_key(path)
    assert first.private_numbers() == again.private_numbers()


def test_public_key_is_base64_of_pem(cryptor_a, key_a):
    text = cryptor_a.public_key_str
    pem = base64.b64decode(text)
    assert pem.startswith(b"-----BEGIN PUBLIC KEY-----")
    assert text == crypto.public_key_to_b64(key_a.public_key())
    parsed = crypto.load_public_key_b64(text)
    assert parsed.public_numbers() == key_a.public_key().public_numbers()
    # raw PEM text is tolerated too
    assert crypto.load_public_key_b64(pem.decode()).public_numbers() == parsed.public_numbers()
    assert cryptor_a.verify_public_key(text)
    assert not cryptor_a.verify_public_key(None)
    assert not cryptor_a.verify_public_key("bm90IGEga2V5")


def test_bad_public_keys_are_rejected(cryptor_a):
    for bad in ("", "%%%", base64.b64encode(b"not a pem").decode()):
        with pytest.raises(ValueError):
            cryptor_a.encrypt_bytes_to_str(PAYLOAD, bad)


# ------------------------------------------------------------------------------------------
# roundtrips and format detection
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("scheme", SUPPORTED_SCHEMES)
@pytest.mark.parametrize("payload", [PAYLOAD, b"", b"\x00\xff" * 5000])
def test_roundtrip(cryptor_a, cryptor_b, scheme, payload):
    token = cryptor_a.encrypt_bytes_to_str(payload, cryptor_b.public_key_str, scheme=scheme)
    assert isinstance(token, str)
    assert detect_scheme(token) == scheme
    assert cryptor_b.decrypt_str_to_bytes(token) == payload
    assert cryptor_b.decrypt(token.encode()) == payload
    # the sender cannot read what it encrypted for somebody else
    if scheme == SCHEME_GCM:
        with pytest.raises(DecryptionError):
            cryptor_a.decrypt_str_to_bytes(token)
    elif payload:
        # PKCS#1 v1.5 may "succeed" with a synthetic key (implicit rejection): garbage out
        try:
            assert cryptor_a.decrypt_str_to_bytes(token) != payload
        except DecryptionError:
            pass


def test_format_shapes(cryptor_a):
    v6 = cryptor_a.encrypt_bytes_to_str(PAYLOAD, cryptor_a.public_key_str, scheme=SCHEME_V6)
    key, iv, body = v6.split("$")
    assert len(base64.b64decode(key, validate=True)) == 512  # RSA-4096 block
    assert len(base64.b64decode(iv, validate=True)) == 16
    assert len(base64.b64decode(body, validate=True)) == len(PAYLOAD)  # CTR: no padding

    gcm = cryptor_a.encrypt_bytes_to_str(PAYLOAD, cryptor_a.public_key_str, scheme=SCHEME_GCM)
    assert gcm.startswith(GCM_PREFIX)
    assert "$" not in gcm
    key, nonce, body = gcm[len(GCM_PREFIX) :].split(".")
    assert len(base64.b64decode(key, validate=True)) == 512
    assert len(base64.b64decode(nonce, validate=True)) == 12
    assert len(base64.b64decode(body, validate=True)) == len(PAYLOAD) + 16  # tag


def test_default_scheme_is_vantage6_and_configurable(key_a):
    default = Cryptor(key_a)
    token = default.encrypt_bytes_to_str(PAYLOAD, default.public_key_str)
    assert detect_scheme(token) == SCHEME_V6
    gcm_default = Cryptor(key_a, default_scheme=SCHEME_GCM)
    token = gcm_default.encrypt_bytes_to_str(PAYLOAD, default.public_key_str)
    assert detect_scheme(token) == SCHEME_GCM
    with pytest.raises(ValueError):
        Cryptor(key_a, default_scheme="rot13")
    with pytest.raises(ValueError):
        default.encrypt_bytes_to_str(PAYLOAD, default.public_key_str, scheme="rot13")


def test_detect_scheme_never_confuses_plain_base64():
    plain = base64.b64encode(PAYLOAD + b"\xfb\xff").decode()
    assert detect_scheme(plain) is None
    assert detect_scheme("abc$def$ghi") == SCHEME_V6
    assert detect_scheme(GCM_PREFIX + "a.b.c") == SCHEME_GCM


def test_cryptor_from_file(tmp_path, key_a):
    path = crypto.save_private_key(key_a, tmp_path / "k.pem")
    c = Cryptor.from_file(path)
    assert c.public_key_str == crypto.public_key_to_b64(key_a)
    c2 = Cryptor(str(path))
    assert c2.public_key_str == c.public_key_str
    with pytest.raises(FileNotFoundError):
        Cryptor.from_file(tmp_path / "missing.pem")
    created = Cryptor.from_file(tmp_path / "created.pem", create=True)
    assert (tmp_path / "created.pem").exists() and created.private_key.key_size == 4096


# ------------------------------------------------------------------------------------------
# tampering
# ------------------------------------------------------------------------------------------
def _flip(b64text: str, index: int) -> str:
    raw = bytearray(base64.b64decode(b64text))
    raw[index % len(raw)] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


@pytest.mark.parametrize("field,index", [(0, 7), (1, 3), (2, 0), (2, 10), (2, -1)])
def test_gcm_tampering_is_detected(cryptor_a, field, index):
    token = cryptor_a.encrypt_bytes_to_str(PAYLOAD, cryptor_a.public_key_str, scheme=SCHEME_GCM)
    parts = token[len(GCM_PREFIX) :].split(".")
    parts[field] = _flip(parts[field], index)
    with pytest.raises(DecryptionError):
        cryptor_a.decrypt_str_to_bytes(GCM_PREFIX + ".".join(parts))


def test_gcm_truncation_and_garbage_detected(cryptor_a):
    token = cryptor_a.encrypt_bytes_to_str(PAYLOAD, cryptor_a.public_key_str, scheme=SCHEME_GCM)
    prefix, _, body = token.rpartition(".")
    raw = base64.b64decode(body)
    with pytest.raises(DecryptionError):
        cryptor_a.decrypt_str_to_bytes(prefix + "." + base64.b64encode(raw[:-1]).decode())
    for bad in (GCM_PREFIX, GCM_PREFIX + "a.b", GCM_PREFIX + "!!.!!.!!", token + ".x"):
        with pytest.raises(DecryptionError):
            cryptor_a.decrypt_str_to_bytes(bad)


def test_v6_tampering_is_not_detected_by_design(cryptor_a):
    """Documents why the GCM scheme exists: CTR has no integrity protection."""
    token = cryptor_a.encrypt_bytes_to_str(b'{"x": 1}', cryptor_a.public_key_str, scheme=SCHEME_V6)
    key, iv, body = token.split("$")
    raw = bytearray(base64.b64decode(body))
    raw[6] ^= ord("1") ^ ord("7")
    forged = "$".join([key, iv, base64.b64encode(bytes(raw)).decode()])
    assert cryptor_a.decrypt_str_to_bytes(forged) == b'{"x": 7}'


def test_strict_cryptor_refuses_unauthenticated_payloads(key_a):
    strict = Cryptor(key_a, accepted_schemes=[SCHEME_GCM], default_scheme=SCHEME_GCM)
    assert strict.supported_schemes == (SCHEME_GCM,)
    v6 = strict.encrypt_bytes_to_str(PAYLOAD, strict.public_key_str, scheme=SCHEME_V6)
    with pytest.raises(DecryptionError, match="not accepted"):
        strict.decrypt_str_to_bytes(v6)
    gcm = strict.encrypt_bytes_to_str(PAYLOAD, strict.public_key_str)
    assert strict.decrypt_str_to_bytes(gcm) == PAYLOAD


def test_encrypted_cryptor_rejects_plain_payload(cryptor_a):
    with pytest.raises(DecryptionError, match="not encrypted"):
        cryptor_a.decrypt_str_to_bytes(base64.b64encode(PAYLOAD).decode())
    assert cryptor_a.decrypt_str_to_bytes("") == b""


def test_v6_web_ui_variants_are_accepted(cryptor_a, key_a):
    """The vantage6 UI base64-encodes the AES key and the JSON payload before encrypting."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    aes_key, iv = os.urandom(32), os.urandom(16)
    inner = base64.b64encode(PAYLOAD)
    enc = Cipher(algorithms.AES(aes_key), modes.CTR(iv)).encryptor()
    body = enc.update(inner) + enc.finalize()
    wrapped = key_a.public_key().encrypt(base64.b64encode(aes_key), padding.PKCS1v15())
    token = "$".join(base64.b64encode(x).decode() for x in (wrapped, iv, body))
    assert cryptor_a.decrypt_str_to_bytes(token) == PAYLOAD


# ------------------------------------------------------------------------------------------
# plain cryptor and negotiation
# ------------------------------------------------------------------------------------------
def test_dummy_cryptor_is_base64(cryptor_a):
    dummy = DummyCryptor()
    assert crypto.PlainCryptor is DummyCryptor
    text = dummy.encrypt_bytes_to_str(PAYLOAD, "ignored", scheme=SCHEME_GCM)
    assert text == base64.b64encode(PAYLOAD).decode()
    assert dummy.decrypt_str_to_bytes(text) == PAYLOAD
    assert dummy.decrypt(text.encode()) == PAYLOAD
    assert not dummy.encrypted and dummy.supported_schemes == ()
    encrypted = cryptor_a.encrypt_bytes_to_str(PAYLOAD, cryptor_a.public_key_str)
    with pytest.raises(DecryptionError, match="encrypted"):
        dummy.decrypt_str_to_bytes(encrypted)
    with pytest.raises(DecryptionError):
        dummy.decrypt_str_to_bytes("not base64!")


def test_make_cryptor(key_a):
    assert isinstance(crypto.make_cryptor(False), DummyCryptor)
    assert isinstance(crypto.make_cryptor(True, key_a), Cryptor)
    with pytest.raises(ValueError):
        crypto.make_cryptor(True)


def test_scheme_policy_follows_the_collaboration_setting(cryptor_a):
    """The format is declared on the collaboration: absent (a vantage6 server) = vantage6."""
    assert SUPPORTED_SCHEMES[0] == SCHEME_GCM
    v6 = SchemePolicy.of_collaboration({"encrypted": True})
    assert v6.setting == "vantage6" and v6.write_scheme == SCHEME_V6
    assert set(v6.accepted) == {SCHEME_V6, SCHEME_GCM}
    strict = SchemePolicy.of_collaboration({"encryption_scheme": "authenticated"})
    assert strict.write_scheme == SCHEME_GCM and strict.accepted == (SCHEME_GCM,)
    assert v6.strictest(True) == strict and v6.strictest(False) == v6
    token = cryptor_a.encrypt_bytes_to_str(PAYLOAD, cryptor_a.public_key_str, scheme=SCHEME_V6)
    v6.check(token)
    with pytest.raises(DowngradeRefused, match="requires the authenticated format"):
        strict.check(token)
    strict.check(cryptor_a.encrypt_bytes_to_str(PAYLOAD, cryptor_a.public_key_str, SCHEME_GCM))
    with pytest.raises(ValueError, match="unknown encryption_scheme"):
        SchemePolicy.of_collaboration({"encryption_scheme": "rot13"})


# ------------------------------------------------------------------------------------------
# interoperability with the published vantage6 4.14 cryptor
# ------------------------------------------------------------------------------------------
# Runs under the published venv. Reads a JSON job on stdin, prints a JSON answer.
_PUBLISHED_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from vantage6.common.encryption import RSACryptor, DummyCryptor

    job = json.load(sys.stdin)
    out = {}
    cryptor = RSACryptor(Path(job["key_file"]))
    out["public_key"] = cryptor.public_key_str
    if "encrypt_for" in job:
        out["encrypted"] = cryptor.encrypt_bytes_to_str(
            job["plaintext"].encode(), job["encrypt_for"]
        )
        out["plain"] = DummyCryptor().encrypt_bytes_to_str(job["plaintext"].encode(), "")
    if "decrypt" in job:
        out["decrypted"] = cryptor.decrypt_str_to_bytes(job["decrypt"]).decode()
        out["plain_decoded"] = DummyCryptor().decrypt(job["plain"]).decode()
    print(json.dumps(out))
    """
)


def _run_published(job: dict) -> dict:
    python = published_python()
    proc = subprocess.run(
        [str(python), "-c", _PUBLISHED_SCRIPT],
        input=json.dumps(job),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def published_key_file(tmp_path_factory, key_b):
    # the published cryptor loads its key from a PEM file; we keep a copy to compare
    path = tmp_path_factory.mktemp("published") / "private_key.pem"
    crypto.save_private_key(key_b, path)
    return path


def test_published_encrypts_we_decrypt(cryptor_a, published_key_file):
    text = PAYLOAD.decode()
    out = _run_published(
        {
            "key_file": str(published_key_file),
            "encrypt_for": cryptor_a.public_key_str,
            "plaintext": text,
        }
    )
    assert detect_scheme(out["encrypted"]) == SCHEME_V6
    assert cryptor_a.decrypt_str_to_bytes(out["encrypted"]).decode() == text
    assert DummyCryptor().decrypt_str_to_bytes(out["plain"]).decode() == text


def test_we_encrypt_published_decrypts(cryptor_a, cryptor_b, published_key_file):
    text = json.dumps({"result": [1.5, 2, "x"], "ü": None})
    # the published cryptor derives the same public key from the PEM file we wrote
    probe = _run_published({"key_file": str(published_key_file)})
    assert probe["public_key"] == cryptor_b.public_key_str
    token = cryptor_a.encrypt_bytes_to_str(text.encode(), probe["public_key"], scheme=SCHEME_V6)
    out = _run_published(
        {
            "key_file": str(published_key_file),
            "decrypt": token,
            "plain": DummyCryptor().encrypt_bytes_to_str(text.encode()),
        }
    )
    assert out["decrypted"] == text
    assert out["plain_decoded"] == text


def test_published_key_file_loads_here(tmp_path):
    """A key file written by the published tools is readable by ours (and vice versa above)."""
    python = published_python()
    path = tmp_path / "pub.pem"
    script = (
        "from pathlib import Path; from vantage6.common.encryption import RSACryptor;"
        f"RSACryptor.create_new_rsa_key(Path({str(path)!r}))"
    )
    subprocess.run([str(python), "-c", script], check=True, timeout=120)
    key = crypto.load_private_key(path)
    assert key.key_size == 4096
