"""The node's side of end-to-end encryption (glue to :mod:`vantage6_common.crypto`).

Which format a payload is written in is declared on the collaboration (``encryption_scheme``,
see :mod:`vantage6_common.scheme_policy`): ``vantage6`` = the vantage6 4.x format for every
value (results and subtask input alike, so published 4.x clients and nodes read them),
``authenticated`` = the authenticated format for every value, and the vantage6 format is refused
on input. ``encryption.require_authenticated`` in the configuration makes this node behave as in
an ``authenticated`` collaboration whatever the collaboration says. What other nodes announce
plays no part, so the choice does not depend on who connected first.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from vantage6_common import crypto
from vantage6_common.scheme_policy import DowngradeRefused, SchemePolicy
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
        #: what the collaboration declares (None: not looked up yet) and what this node applies
        self.declared: SchemePolicy | None = None
        self.policy = SchemePolicy().strictest(config.require_authenticated)
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
            accepted = SchemePolicy().strictest(self.config.require_authenticated).accepted
            self._rsa = crypto.Cryptor(
                crypto.load_or_create_private_key(self.key_path), accepted_schemes=accepted
            )
            if not existed:
                os.chmod(self.key_path, 0o600)
                log.info("created a new private key in %s", self.key_path)
        return self._rsa

    def setup(self, collaboration_encrypted: bool, policy: SchemePolicy | None = None) -> None:
        """Choose the cryptor and the format policy for the collaboration (its settings)."""
        self.set_policy(policy or SchemePolicy())
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

    def set_policy(self, policy: SchemePolicy) -> None:
        """Follow the collaboration's ``encryption_scheme`` (tightened by the configuration)."""
        if policy == self.declared:
            return
        self.declared = policy
        self.policy = policy.strictest(self.config.require_authenticated)
        log.info("collaboration encryption_scheme: %s", policy.setting)
        if self.policy != policy:
            log.warning(
                "encryption.require_authenticated: writing the authenticated format although "
                "the collaboration's encryption_scheme is %r (its vantage6 4.x readers cannot "
                "read what this node writes)",
                policy.setting,
            )

    @property
    def write_scheme(self) -> str | None:
        """The format of everything this node encrypts (None: unencrypted collaboration)."""
        return self.policy.write_scheme if self.encrypted else None

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
        if self.encrypted:
            self.policy.check(payload)
        return self.cryptor.decrypt_str_to_bytes(payload), scheme

    def encrypt_for(self, data: bytes, public_key_b64: str | None) -> str:
        """Encrypt (or, unencrypted collaboration: base64) ``data`` for a reader, in the
        collaboration's format."""
        if not self.encrypted:
            return self.cryptor.encrypt_bytes_to_str(data)
        if not public_key_b64:
            raise EncryptionMismatch(
                "the receiving organization has no public key on the server; cannot encrypt"
            )
        return self.cryptor.encrypt_bytes_to_str(data, public_key_b64, scheme=self.write_scheme)

    # blobs (vantage6 4.14's streamed format, see vantage6_common.blob_crypto) ------------------
    def blob_private_key(self) -> Any:
        """The key that decodes blobs for us (None: unencrypted collaboration, base64).

        Blobs exist only in the vantage6 format (no integrity protection); a collaboration that
        requires the authenticated format refuses them (:class:`DowngradeRefused`).
        """
        if not self.encrypted:
            return None
        self.check_blob_format()
        assert isinstance(self.cryptor, crypto.Cryptor)
        return self.cryptor.private_key

    def check_blob_format(self) -> None:
        """:class:`DowngradeRefused` when the collaboration refuses the vantage6 format."""
        if self.encrypted and crypto.SCHEME_V6 not in self.policy.accepted:
            raise DowngradeRefused(
                "blobs exist only in the unauthenticated vantage6 format, which this "
                "collaboration refuses (it requires the authenticated format)"
            )

    def decrypt_result(self, payload: str) -> bytes:
        """Decrypt a result for a container; :class:`DowngradeRefused` if the policy forbids
        its format."""
        if self.encrypted:
            self.policy.check(payload)
        return self.cryptor.decrypt_str_to_bytes(payload)
