"""Tests for vantage6_common.blob_crypto: streaming blob formats, checked against vantage6 4.14."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import textwrap
from pathlib import Path

import pytest

from tests.published import published_python
from vantage6_common import blob_crypto, crypto
from vantage6_common.blob_crypto import (
    BlobTooLarge,
    base64_decode_chunks,
    base64_encode_chunks,
    decode_chunks,
    decrypt_chunks,
    encode_chunks,
    encrypt_chunks,
    read_chunks,
    write_chunks,
)
from vantage6_common.crypto import DecryptionError

# odd length, spans several 1 MiB chunks
PAYLOAD = os.urandom(3 * 1024 * 1024 + 7)


@pytest.fixture(scope="module")
def key():
    return crypto.generate_private_key(2048)


@pytest.fixture(scope="module")
def other_key():
    return crypto.generate_private_key(2048)


def pieces(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


# ------------------------------------------------------------------------------------------
# encrypted
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [1, 5, 1000, 1024 * 1024])
def test_encrypt_then_decrypt_in_any_piece_size(key, size):
    data = PAYLOAD[:20000] if size < 1000 else PAYLOAD
    encrypted = b"".join(encrypt_chunks(pieces(data, 65536), crypto.public_key_to_b64(key)))
    assert b"".join(decrypt_chunks(pieces(encrypted, size), key)) == data


def test_encrypted_layout_is_header_then_raw_ciphertext(key):
    encrypted = b"".join(encrypt_chunks([b"hello"], crypto.public_key_to_b64(key)))
    wrapped_b64, iv_b64, body = encrypted.split(b"$", 2)
    assert len(base64.b64decode(wrapped_b64, validate=True)) == key.key_size // 8
    assert len(base64.b64decode(iv_b64, validate=True)) == 16
    assert len(body) == 5 and body != b"hello"


def test_encrypting_twice_gives_different_bytes(key):
    pub = crypto.public_key_to_b64(key)
    assert b"".join(encrypt_chunks([b"x" * 100], pub)) != b"".join(
        encrypt_chunks([b"x" * 100], pub)
    )


def test_empty_payload_round_trips(key):
    encrypted = b"".join(encrypt_chunks([], crypto.public_key_to_b64(key)))
    assert encrypted.count(b"$") == 2 and encrypted.endswith(b"$")
    assert b"".join(decrypt_chunks([encrypted], key)) == b""


def test_wrong_key_is_refused(key, other_key):
    # OpenSSL's implicit rejection turns a wrong key into pseudo-random bytes of a length
    # derived from the ciphertext; in the rare case that is 32 bytes, garbage comes out.
    for _ in range(5):
        encrypted = b"".join(encrypt_chunks([b"secret"], crypto.public_key_to_b64(key)))
        try:
            out = b"".join(decrypt_chunks([encrypted], other_key))
        except DecryptionError as exc:
            assert "another organization" in str(exc)
            return
        assert out != b"secret"
    pytest.fail("five blobs decrypted with the wrong key without an error")


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (b"", "ended before"),
        (b"abc$def", "ended before"),
        (b"x" * 10000, "no key\\$iv\\$ header"),
        (b"!!!$AAAA$body", "not base64"),
        (base64.b64encode(b"k" * 256) + b"$" + base64.b64encode(b"short") + b"$", "IV"),
    ],
)
def test_malformed_headers_are_refused(key, blob, message):
    with pytest.raises(DecryptionError, match=message):
        b"".join(decrypt_chunks(pieces(blob, 100) or [b""], key))


def test_bad_public_key_is_refused_before_any_output():
    with pytest.raises(ValueError):
        next(encrypt_chunks([b"x"], "bm90IGEga2V5"))


# ------------------------------------------------------------------------------------------
# plain
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [1, 2, 3, 4, 7, 1024 * 1024])
def test_base64_streaming_equals_one_shot(size):
    data = PAYLOAD[:5000] if size < 100 else PAYLOAD
    encoded = b"".join(base64_encode_chunks(pieces(data, size)))
    assert encoded == base64.b64encode(data)
    assert b"".join(base64_decode_chunks(pieces(encoded, size + 1))) == data


@pytest.mark.parametrize("text", [b"QQ=", b"QQ==QQ==", b"QQ==\nQUFB", b"Q!==", b"QUFB" * 3 + b"Q"])
def test_bad_base64_is_refused(text):
    with pytest.raises(DecryptionError):
        b"".join(base64_decode_chunks(pieces(text, 4)))


def test_base64_ignores_line_breaks():
    assert b"".join(base64_decode_chunks([b"QUFB\r\n", b"QUE=\n"])) == b"AAAAA"


def test_encode_and_decode_choose_by_key(key):
    pub = crypto.public_key_to_b64(key)
    assert b"".join(encode_chunks([b"abc"], None)) == b"YWJj"
    assert b"".join(decode_chunks([b"YWJj"], None)) == b"abc"
    assert b"".join(decode_chunks(encode_chunks([b"abc"], pub), key)) == b"abc"


# ------------------------------------------------------------------------------------------
# files
# ------------------------------------------------------------------------------------------
def test_write_chunks_is_all_or_nothing(tmp_path):
    target = tmp_path / "input"
    assert write_chunks(read_chunks_of(PAYLOAD), target) == len(PAYLOAD)
    assert target.read_bytes() == PAYLOAD
    assert oct(target.stat().st_mode & 0o777) == "0o600"
    with pytest.raises(BlobTooLarge):
        write_chunks(read_chunks_of(PAYLOAD), tmp_path / "small", max_bytes=1000)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["input"]


def test_write_chunks_leaves_nothing_when_the_source_fails(tmp_path):
    def failing():
        yield b"abc"
        raise DecryptionError("broken")

    with pytest.raises(DecryptionError):
        write_chunks(failing(), tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_read_chunks_of_a_path(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(PAYLOAD)
    chunks = list(read_chunks(path, 1024 * 1024))
    assert len(chunks) == 4 and b"".join(chunks) == PAYLOAD


def read_chunks_of(data: bytes):
    return iter(pieces(data, blob_crypto.CHUNK_SIZE))


# ------------------------------------------------------------------------------------------
# byte compatibility with the published vantage6 4.14 cryptors
# ------------------------------------------------------------------------------------------
# Runs in the published venv; each job names a file to read and a file to write.
_PUBLISHED_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from vantage6.common.encryption import RSACryptor, DummyCryptor

    jobs = json.load(sys.stdin)
    rsa = RSACryptor(Path(jobs["key_file"]))
    plain = DummyCryptor()
    for job in jobs["jobs"]:
        source, target, op = Path(job["in"]), Path(job["out"]), job["op"]
        with source.open("rb") as src, target.open("wb") as out:
            if op == "encrypt_stream":
                out.writelines(rsa.encrypt_stream(src, job["public_key"]))
            elif op == "encrypt_bytes":
                out.write(rsa.encrypt_bytes_to_str(
                    src.read(), job["public_key"], skip_base64_encoding_of_msg=True))
            elif op == "decrypt_stream":
                out.writelines(rsa.decrypt_stream(src))
            elif op == "decrypt_bytes":
                out.write(rsa.decrypt(src.read()))
            elif op == "plain_encode_stream":
                out.writelines(plain.encrypt_stream(src))
            elif op == "plain_encode_bytes":
                out.write(plain.encrypt_bytes_to_str(
                    src.read(), "", skip_base64_encoding_of_msg=True).encode())
            elif op == "plain_decode_bytes":
                out.write(plain.decrypt(src.read()))
            elif op == "plain_decode_stream":
                out.writelines(plain.decrypt_stream(src))
    print(json.dumps({"public_key": rsa.public_key_str}))
    """
)


def _run_published(key_file: Path, jobs: list[dict]) -> dict:
    proc = subprocess.run(
        [str(published_python()), "-c", _PUBLISHED_SCRIPT],
        input=json.dumps({"key_file": str(key_file), "jobs": jobs}),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_byte_compatible_with_published_cryptors(tmp_path, key, other_key):
    """Each side decodes what the other encodes, streamed and whole, encrypted and plain."""
    published_key = tmp_path / "published.pem"  # the published side's own key
    crypto.save_private_key(other_key, published_key)
    ours_pub = crypto.public_key_to_b64(key)
    theirs_pub = crypto.public_key_to_b64(other_key)
    payload = tmp_path / "payload"
    payload.write_bytes(PAYLOAD)

    # what we write, for the published side to read
    write_chunks(encode_chunks(read_chunks(payload), theirs_pub), tmp_path / "ours.enc")
    write_chunks(encode_chunks(read_chunks(payload), None), tmp_path / "ours.b64")
    jobs = [
        {"op": "encrypt_stream", "in": payload, "public_key": ours_pub, "out": "t_stream.enc"},
        {"op": "encrypt_bytes", "in": payload, "public_key": ours_pub, "out": "t_bytes.enc"},
        {"op": "plain_encode_stream", "in": payload, "out": "t_stream.b64"},
        {"op": "plain_encode_bytes", "in": payload, "out": "t_bytes.b64"},
        {"op": "decrypt_stream", "in": tmp_path / "ours.enc", "out": "o_stream.dec"},
        {"op": "decrypt_bytes", "in": tmp_path / "ours.enc", "out": "o_bytes.dec"},
        {"op": "plain_decode_stream", "in": tmp_path / "ours.b64", "out": "o_stream.plain"},
        {"op": "plain_decode_bytes", "in": tmp_path / "ours.b64", "out": "o_bytes.plain"},
    ]
    for job in jobs:
        job["in"] = str(job["in"])
        job["out"] = str(tmp_path / job["out"])
    answer = _run_published(published_key, jobs)
    assert answer["public_key"] == theirs_pub

    # the published side read ours
    for name in ("o_stream.dec", "o_bytes.dec", "o_stream.plain", "o_bytes.plain"):
        assert (tmp_path / name).read_bytes() == PAYLOAD, name
    # we read theirs
    for name in ("t_stream.enc", "t_bytes.enc"):
        decoded = tmp_path / f"{name}.out"
        write_chunks(decode_chunks(read_chunks(tmp_path / name, 65536), key), decoded)
        assert decoded.read_bytes() == PAYLOAD, name
    for name in ("t_stream.b64", "t_bytes.b64"):
        assert (tmp_path / name).read_bytes() == (tmp_path / "ours.b64").read_bytes(), name
        decoded = tmp_path / f"{name}.out"
        write_chunks(decode_chunks(read_chunks(tmp_path / name, 65536), None), decoded)
        assert decoded.read_bytes() == PAYLOAD, name
