"""The node's side of end-to-end encryption (glue to :mod:`vantage6_common.crypto`).

Which format a payload uses is decided per reader:

* a result goes to the task's initiating organization; with scheme ``auto`` it is written in
  the scheme the run's input arrived in (whoever could write the authenticated format can read
  it), otherwise in the vantage6 format;
* subtask input goes to other organizations' nodes; ``auto`` uses the authenticated format only
  for organizations whose nodes say they read it (``encryption_schemes`` in the node
  information they share), otherwise the vantage6 format.

A fixed ``encryption.scheme`` in the configuration overrides both. Input is always decrypted in
whichever format it comes (unless ``require_authenticated``).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from vantage6_common import crypto
from vantage6_node.config import EncryptionConfig

log = logging.getLogger(__name__)


class EncryptionMismatch(RuntimeError):
    """The collaboration and the node configuration disagree about encryption."""


class NodeEncryption:
    """Holds this organization's key and the cryptor for the node's collaboration."""

    def __init__(self, config: EncryptionConfig, default_key_path: Path) -> None:
        self.config = config
        self.key_path = Path(config.private_key or default_key_path)
        self.cryptor: crypto.CryptorBase = crypto.DummyCryptor()
        self._rsa: crypto.Cryptor | None = None

    # setup -------------------------------------------------------------------------------------
    def load_key(self) -> crypto.Cryptor:
        """Load (or create, 0600) the private key; only when encryption is enabled."""
        if self._rsa is None:
            existed = self.key_path.exists()
            if self.config.private_key is not None and not existed:
                raise EncryptionMismatch(
                    f"encryption.private_key: file {str(self.key_path)!r} does not exist"
                )
            self.key_path.parent.mkdir(parents=True, exist_ok=True)
            accepted = (
                (crypto.SCHEME_GCM,)
                if self.config.require_authenticated
                else crypto.SUPPORTED_SCHEMES
            )
            self._rsa = crypto.Cryptor(
                crypto.load_or_create_private_key(self.key_path),
                accepted_schemes=accepted,
            )
            if not existed:
                os.chmod(self.key_path, 0o600)
                log.info("created a new private key in %s", self.key_path)
        return self._rsa

    def setup(self, collaboration_encrypted: bool) -> None:
        """Choose the cryptor for the collaboration (the server's setting decides the format)."""
        if collaboration_encrypted:
            if not self.config.enabled:
                raise EncryptionMismatch(
                    "the collaboration is encrypted but encryption.enabled is false in the node "
                    "configuration; enable it (and give encryption.private_key)"
                )
            self.cryptor = self.load_key()
        else:
            if self.config.enabled:
                log.warning(
                    "encryption is enabled in the configuration but the collaboration is not "
                    "encrypted; payloads are exchanged unencrypted"
                )
            self.cryptor = crypto.DummyCryptor()

    @property
    def encrypted(self) -> bool:
        return bool(self.cryptor.encrypted)

    @property
    def public_key_b64(self) -> str | None:
        """Our public key (base64 of PEM) when encryption is enabled, else None."""
        if not self.config.enabled:
            return None
        return self.load_key().public_key_str

    def public_key_matches(self, server_value: str | None) -> bool:
        return self.load_key().verify_public_key(server_value)

    @property
    def supported_schemes(self) -> list[str]:
        if not self.config.enabled:
            return []
        return list(self.load_key().supported_schemes)

    # payloads ----------------------------------------------------------------------------------
    def decrypt_input(self, payload: Any) -> tuple[bytes, str | None]:
        """Decrypt a run's input; return the plaintext and the scheme it came in."""
        if payload is None:
            return b"", None
        if isinstance(payload, dict | list):
            return json.dumps(payload).encode(), None
        if isinstance(payload, bytes):
            payload = payload.decode("utf-8")
        if payload == "":
            return b"", None
        scheme = crypto.detect_scheme(payload) if self.encrypted else None
        return self.cryptor.decrypt_str_to_bytes(payload), scheme

    def result_scheme(self, input_scheme: str | None) -> str | None:
        if not self.encrypted:
            return None
        if self.config.scheme != "auto":
            return self.config.scheme
        return input_scheme if input_scheme in crypto.SUPPORTED_SCHEMES else crypto.SCHEME_V6

    def peer_scheme(self, peer_schemes: list[str] | None) -> str | None:
        if not self.encrypted:
            return None
        if self.config.scheme != "auto":
            return self.config.scheme
        try:
            return crypto.choose_scheme(peer_schemes or None, self.cryptor.supported_schemes)
        except ValueError:
            return crypto.SCHEME_V6

    def encrypt_for(self, data: bytes, public_key_b64: str | None, scheme: str | None) -> str:
        """Encrypt (or, unencrypted collaboration: base64) ``data`` for a reader."""
        if not self.encrypted:
            return self.cryptor.encrypt_bytes_to_str(data)
        if not public_key_b64:
            raise EncryptionMismatch(
                "the receiving organization has no public key on the server; cannot encrypt"
            )
        return self.cryptor.encrypt_bytes_to_str(data, public_key_b64, scheme=scheme)

    def decrypt_result(self, payload: str) -> bytes:
        return self.cryptor.decrypt_str_to_bytes(payload)
