"""End-to-end encryption of task inputs and results between organizations.

Two payload formats are understood:

``v6-ctr`` (:data:`SCHEME_V6`)
    The vantage6 4.x format ``b64(rsa_pkcs1v15(key))$b64(iv)$b64(aes256_ctr(payload))``.
    It has no integrity protection; we produce it only in collaborations declared readable by
    vantage6 4.x (see :mod:`vantage6_common.scheme_policy`) and accept it for compatibility.

``gcm-oaep`` (:data:`SCHEME_GCM`)
    Ours: ``GCM_PREFIX + b64(rsa_oaep_sha256(key)) "." b64(nonce) "." b64(aes256_gcm(payload))``
    where the GCM ciphertext carries its 16-byte tag and the prefix is bound as associated
    data. Any change to the wrapped key, nonce, ciphertext or prefix makes decryption fail.

The prefix contains ``:`` which is neither a base64 character nor the vantage6 separator
``$``, so the three possible encodings (GCM, vantage6, plain base64) never overlap and
:meth:`Cryptor.decrypt_str_to_bytes` detects the format from the text alone.

Public keys travel as base64 of the PEM ``SubjectPublicKeyInfo`` block, which is how vantage6
stores them on the server (``organization.public_key``).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = [
    "SCHEME_V6",
    "SCHEME_GCM",
    "SUPPORTED_SCHEMES",
    "DEFAULT_SCHEME",
    "GCM_PREFIX",
    "V6_SEPARATOR",
    "DecryptionError",
    "generate_private_key",
    "save_private_key",
    "load_private_key",
    "load_or_create_private_key",
    "public_key_to_b64",
    "load_public_key_b64",
    "detect_scheme",
    "CryptorBase",
    "DummyCryptor",
    "PlainCryptor",
    "Cryptor",
    "RSACryptor",
    "make_cryptor",
]

SCHEME_V6 = "v6-ctr"
SCHEME_GCM = "gcm-oaep"
#: Schemes this implementation can produce and read, most preferred first.
SUPPORTED_SCHEMES: tuple[str, ...] = (SCHEME_GCM, SCHEME_V6)
#: What :class:`Cryptor` writes when the caller names no scheme: the only format a vantage6 4.x
#: peer can read. Which scheme a collaboration's values use is declared on the collaboration
#: (see :mod:`vantage6_common.scheme_policy`).
DEFAULT_SCHEME = SCHEME_V6

GCM_PREFIX = "v6n-gcm1:"
GCM_FIELD_SEPARATOR = "."
V6_SEPARATOR = "$"

RSA_KEY_SIZE = 4096
RSA_PUBLIC_EXPONENT = 65537
AES_KEY_BYTES = 32
CTR_IV_BYTES = 16
GCM_NONCE_BYTES = 12

_OAEP = padding.OAEP(
    mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None
)


class DecryptionError(ValueError):
    """A payload could not be decrypted (wrong key, tampered or malformed data)."""


# --------------------------------------------------------------------------------------------
# base64 helpers
# --------------------------------------------------------------------------------------------
def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeError) as exc:
        raise DecryptionError(f"{what} is not valid base64") from exc


# --------------------------------------------------------------------------------------------
# keys
# --------------------------------------------------------------------------------------------
def generate_private_key(key_size: int = RSA_KEY_SIZE) -> rsa.RSAPrivateKey:
    """Create a new RSA private key (4096 bits unless told otherwise)."""
    return rsa.generate_private_key(public_exponent=RSA_PUBLIC_EXPONENT, key_size=key_size)


def private_key_to_pem(private_key: rsa.RSAPrivateKey) -> bytes:
    """Unencrypted PEM of a private key ("BEGIN RSA PRIVATE KEY", as vantage6 writes it)."""
    return private_key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.TraditionalOpenSSL,
        encryption_algorithm=serialization.NoEncryption(),
    )


def save_private_key(private_key: rsa.RSAPrivateKey, path: str | os.PathLike[str]) -> Path:
    """Write a private key as PEM, readable by the owner only. Returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fp:
        fp.write(private_key_to_pem(private_key))
    os.chmod(path, 0o600)
    return path


def load_private_key(
    source: str | os.PathLike[str] | bytes, password: bytes | None = None
) -> rsa.RSAPrivateKey:
    """Load an RSA private key from PEM bytes or from a PEM file."""
    pem = source if isinstance(source, bytes) else Path(source).read_bytes()
    key = serialization.load_pem_private_key(pem, password=password)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("The private key is not an RSA key")
    return key


def load_or_create_private_key(path: str | os.PathLike[str]) -> rsa.RSAPrivateKey:
    """Load the key at ``path``, or generate and save a new one if the file does not exist."""
    path = Path(path)
    if path.exists():
        return load_private_key(path)
    key = generate_private_key()
    save_private_key(key, path)
    return key


def public_key_pem(key: rsa.RSAPrivateKey | rsa.RSAPublicKey) -> bytes:
    """PEM (SubjectPublicKeyInfo) of the public half of ``key``."""
    public = key.public_key() if isinstance(key, rsa.RSAPrivateKey) else key
    return public.public_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PublicFormat.SubjectPublicKeyInfo,
    )


def public_key_to_b64(key: rsa.RSAPrivateKey | rsa.RSAPublicKey) -> str:
    """The public key as vantage6 stores it on the server: base64 of the PEM text."""
    return _b64(public_key_pem(key))


def load_public_key_b64(public_key_b64: str) -> rsa.RSAPublicKey:
    """Parse a public key given as base64 of PEM (raw PEM text is accepted as well)."""
    if not public_key_b64:
        raise ValueError("No public key given; the organization has not uploaded one")
    text = public_key_b64.strip()
    if text.startswith("-----BEGIN"):
        pem = text.encode("ascii")
    else:
        try:
            pem = base64.b64decode(text.encode("ascii"), validate=True)
        except (binascii.Error, ValueError, UnicodeError) as exc:
            raise ValueError("The public key is not base64 of a PEM block") from exc
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError as exc:
        raise ValueError("The public key could not be parsed as PEM") from exc
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("The public key is not an RSA key")
    return key


# --------------------------------------------------------------------------------------------
# schemes
# --------------------------------------------------------------------------------------------
def detect_scheme(data: str) -> str | None:
    """Which encrypted format ``data`` is in: SCHEME_GCM, SCHEME_V6, or None (not encrypted)."""
    if data.startswith(GCM_PREFIX):
        return SCHEME_GCM
    if V6_SEPARATOR in data:
        return SCHEME_V6
    return None


# --------------------------------------------------------------------------------------------
# cryptors
# --------------------------------------------------------------------------------------------
class CryptorBase:
    """Interface shared by the encrypting and the plain (unencrypted) cryptor."""

    #: Schemes this cryptor can read.
    supported_schemes: tuple[str, ...] = ()
    encrypted: bool = False

    @staticmethod
    def bytes_to_str(data: bytes) -> str:
        return _b64(data)

    @staticmethod
    def str_to_bytes(data: str) -> bytes:
        return _unb64(data, "data")

    def encrypt_bytes_to_str(
        self, data: bytes, public_key_b64: str | None = None, scheme: str | None = None
    ) -> str:
        raise NotImplementedError

    def decrypt_str_to_bytes(self, data: str) -> bytes:
        raise NotImplementedError

    def decrypt(self, data: str | bytes) -> bytes:
        """Like :meth:`decrypt_str_to_bytes`; bytes are taken as the ASCII text of a payload."""
        if isinstance(data, bytes):
            data = data.decode("utf-8")
        return self.decrypt_str_to_bytes(data)


class DummyCryptor(CryptorBase):
    """Cryptor for unencrypted collaborations: payloads are plain base64."""

    supported_schemes = ()
    encrypted = False

    def encrypt_bytes_to_str(
        self, data: bytes, public_key_b64: str | None = None, scheme: str | None = None
    ) -> str:
        """Base64 of ``data``; the public key and scheme are ignored."""
        return _b64(data)

    def decrypt_str_to_bytes(self, data: str) -> bytes:
        if detect_scheme(data) is not None:
            raise DecryptionError(
                "The payload is encrypted but this collaboration is not (no private key loaded)"
            )
        return _unb64(data, "payload")


#: Alias: the "plain" cryptor.
PlainCryptor = DummyCryptor


class Cryptor(CryptorBase):
    """Hybrid RSA/AES cryptor for encrypted collaborations.

    Parameters
    ----------
    private_key:
        This party's RSA private key (or a path to its PEM file).
    default_scheme:
        Scheme used by :meth:`encrypt_bytes_to_str` when the caller passes none.
    accepted_schemes:
        Formats :meth:`decrypt_str_to_bytes` accepts. Leave out :data:`SCHEME_V6` to refuse
        unauthenticated payloads (no downgrade once all peers speak GCM).
    """

    encrypted = True

    def __init__(
        self,
        private_key: rsa.RSAPrivateKey | str | os.PathLike[str],
        default_scheme: str = DEFAULT_SCHEME,
        accepted_schemes: Iterable[str] = SUPPORTED_SCHEMES,
    ) -> None:
        if not isinstance(private_key, rsa.RSAPrivateKey):
            private_key = load_private_key(private_key)
        self.private_key = private_key
        self.accepted_schemes = tuple(accepted_schemes)
        unknown = set(self.accepted_schemes) - set(SUPPORTED_SCHEMES)
        if unknown:
            raise ValueError(f"Unknown encryption scheme(s): {sorted(unknown)}")
        self.supported_schemes = tuple(s for s in SUPPORTED_SCHEMES if s in self.accepted_schemes)
        if default_scheme not in SUPPORTED_SCHEMES:
            raise ValueError(f"Unknown encryption scheme {default_scheme!r}")
        self.default_scheme = default_scheme

    @classmethod
    def from_file(
        cls, path: str | os.PathLike[str], create: bool = False, **kwargs: Any
    ) -> Cryptor:
        """Cryptor for the key in ``path``; with ``create`` a missing key file is generated."""
        key = load_or_create_private_key(path) if create else load_private_key(path)
        return cls(key, **kwargs)

    # public key --------------------------------------------------------------------------
    @property
    def public_key_bytes(self) -> bytes:
        return public_key_pem(self.private_key)

    @property
    def public_key_str(self) -> str:
        """Our public key as base64 of PEM, ready for ``PATCH /organization``."""
        return public_key_to_b64(self.private_key)

    def verify_public_key(self, public_key_b64: str | None) -> bool:
        """Whether ``public_key_b64`` (e.g. what the server holds) belongs to our private key."""
        if not public_key_b64:
            return False
        try:
            other = load_public_key_b64(public_key_b64)
        except ValueError:
            return False
        return other.public_numbers() == self.private_key.public_key().public_numbers()

    # encryption --------------------------------------------------------------------------
    def encrypt_bytes_to_str(
        self, data: bytes, public_key_b64: str | None = None, scheme: str | None = None
    ) -> str:
        """Encrypt ``data`` for the owner of ``public_key_b64`` (base64 of PEM)."""
        if public_key_b64 is None:
            raise ValueError("A public key is needed to encrypt for an organization")
        scheme = scheme or self.default_scheme
        public_key = load_public_key_b64(public_key_b64)
        if scheme == SCHEME_GCM:
            return self._encrypt_gcm(bytes(data), public_key)
        if scheme == SCHEME_V6:
            return self._encrypt_v6(bytes(data), public_key)
        raise ValueError(f"Unknown encryption scheme {scheme!r}")

    @staticmethod
    def _encrypt_v6(data: bytes, public_key: rsa.RSAPublicKey) -> str:
        key = os.urandom(AES_KEY_BYTES)
        iv = os.urandom(CTR_IV_BYTES)
        encryptor = Cipher(algorithms.AES(key), modes.CTR(iv)).encryptor()
        body = encryptor.update(data) + encryptor.finalize()
        wrapped = public_key.encrypt(key, padding.PKCS1v15())
        return V6_SEPARATOR.join((_b64(wrapped), _b64(iv), _b64(body)))

    @staticmethod
    def _encrypt_gcm(data: bytes, public_key: rsa.RSAPublicKey) -> str:
        key = AESGCM.generate_key(bit_length=AES_KEY_BYTES * 8)
        nonce = os.urandom(GCM_NONCE_BYTES)
        body = AESGCM(key).encrypt(nonce, data, GCM_PREFIX.encode("ascii"))
        wrapped = public_key.encrypt(key, _OAEP)
        fields = GCM_FIELD_SEPARATOR.join((_b64(wrapped), _b64(nonce), _b64(body)))
        return GCM_PREFIX + fields

    # decryption --------------------------------------------------------------------------
    def decrypt_str_to_bytes(self, data: str) -> bytes:
        """Decrypt a payload in either format (detected from its text)."""
        if not isinstance(data, str):
            raise TypeError("decrypt_str_to_bytes expects a str")
        if data == "":
            return b""
        scheme = detect_scheme(data)
        if scheme is None:
            raise DecryptionError(
                "The payload is not encrypted, but this collaboration requires encryption"
            )
        if scheme not in self.accepted_schemes:
            raise DecryptionError(f"Payloads in scheme {scheme!r} are not accepted here")
        if scheme == SCHEME_GCM:
            return self._decrypt_gcm(data)
        return self._decrypt_v6(data)

    def _unwrap_key(self, wrapped: bytes, pad: padding.AsymmetricPadding) -> bytes:
        try:
            return self.private_key.decrypt(wrapped, pad)
        except ValueError as exc:
            raise DecryptionError(
                "Could not decrypt the payload key (encrypted for another organization?)"
            ) from exc

    def _decrypt_gcm(self, data: str) -> bytes:
        parts = data[len(GCM_PREFIX) :].split(GCM_FIELD_SEPARATOR)
        if len(parts) != 3:
            raise DecryptionError("Malformed gcm-oaep payload: expected key.nonce.ciphertext")
        wrapped = _unb64(parts[0], "wrapped key")
        nonce = _unb64(parts[1], "nonce")
        body = _unb64(parts[2], "ciphertext")
        if len(nonce) != GCM_NONCE_BYTES:
            raise DecryptionError("Malformed gcm-oaep payload: bad nonce length")
        key = self._unwrap_key(wrapped, _OAEP)
        if len(key) != AES_KEY_BYTES:
            raise DecryptionError("Malformed gcm-oaep payload: bad key length")
        try:
            return AESGCM(key).decrypt(nonce, body, GCM_PREFIX.encode("ascii"))
        except InvalidTag as exc:
            raise DecryptionError(
                "The payload failed authentication (tampered or corrupt)"
            ) from exc

    def _decrypt_v6(self, data: str) -> bytes:
        parts = data.split(V6_SEPARATOR)
        if len(parts) != 3:
            raise DecryptionError("Malformed vantage6 payload: expected key$iv$ciphertext")
        wrapped = _unb64(parts[0], "wrapped key")
        iv = _unb64(parts[1], "iv")
        body = _unb64(parts[2], "ciphertext")
        if len(iv) != CTR_IV_BYTES:
            raise DecryptionError("Malformed vantage6 payload: bad iv length")
        key = self._unwrap_key(wrapped, padding.PKCS1v15())
        if len(key) != AES_KEY_BYTES:
            # The vantage6 web UI base64-encodes the AES key before wrapping it.
            try:
                key = base64.b64decode(key, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise DecryptionError("Malformed vantage6 payload: bad key length") from exc
            if len(key) != AES_KEY_BYTES:
                raise DecryptionError("Malformed vantage6 payload: bad key length")
        decryptor = Cipher(algorithms.AES(key), modes.CTR(iv)).decryptor()
        plain = decryptor.update(body) + decryptor.finalize()
        return _unwrap_ui_base64(plain)


def _unwrap_ui_base64(plain: bytes) -> bytes:
    """Undo the extra base64 layer the vantage6 web UI puts around JSON payloads.

    Only unwrapped when the payload is not JSON itself and its base64 decoding is JSON, so a
    payload is never altered on a guess.
    """
    try:
        json.loads(plain)
        return plain
    except ValueError:
        pass
    try:
        inner = base64.b64decode(plain, validate=True)
        json.loads(inner)
    except (binascii.Error, ValueError):
        return plain
    return inner


#: Alias named like vantage6's class.
RSACryptor = Cryptor


def make_cryptor(
    encrypted: bool,
    private_key: rsa.RSAPrivateKey | str | os.PathLike[str] | None = None,
    **kwargs: Any,
) -> CryptorBase:
    """The cryptor for a collaboration: :class:`Cryptor` if ``encrypted``, else plain base64."""
    if not encrypted:
        return DummyCryptor()
    if private_key is None:
        raise ValueError("An encrypted collaboration needs this organization's private key")
    return Cryptor(private_key, **kwargs)
