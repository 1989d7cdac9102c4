"""Encryption of task inputs and decryption of results, on top of ``vantage6_common.crypto``.

Whether a payload is encrypted, and in which format, is the collaboration's setting
(``encrypted`` and ``encryption_scheme``, see :mod:`vantage6_common.scheme_policy`); the client
looks both up once per collaboration instead of relying on one global cryptor. Decryption
recognises the format from the text, so results of encrypted and unencrypted collaborations can
be read by the same client; in a collaboration that requires the authenticated format, a value
in the vantage6 format is refused.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from vantage6_client.exceptions import EncryptionError
from vantage6_client.session import ClientSession
from vantage6_common import crypto, serialization
from vantage6_common.related import related_id
from vantage6_common.scheme_policy import SchemePolicy

log = logging.getLogger("vantage6_client")


class EncryptionSupport:
    """Holds the organization's private key (if any) and the per-collaboration choices."""

    def __init__(self, client: ClientSession) -> None:
        self._client = client
        self.cryptor: crypto.CryptorBase = crypto.DummyCryptor()
        self.private_key_file: Path | None = None
        #: collaboration id -> (encrypted, format policy)
        self._collabs: dict[int, tuple[bool, SchemePolicy]] = {}
        #: task id -> collaboration id
        self._task_collab: dict[int, int] = {}

    def reset(self) -> None:
        self.cryptor = crypto.DummyCryptor()
        self.private_key_file = None
        self._collabs.clear()
        self._task_collab.clear()

    # -- set-up -----------------------------------------------------------------------------
    def setup(self, private_key_file: str | Path | None) -> None:
        who = self._client.require_login()
        if private_key_file is None:
            self.cryptor = crypto.DummyCryptor()
            self.private_key_file = None
            return
        path = Path(private_key_file).expanduser()
        if not path.is_file():
            raise EncryptionError(f"private key file not found: {path}")
        try:
            cryptor = crypto.Cryptor(path)
        except (ValueError, TypeError) as exc:
            raise EncryptionError(f"cannot read the private key in {path}: {exc}") from exc
        if who.organization_id is not None:
            org = self._client.transport.request("GET", f"organization/{who.organization_id}")
            if not cryptor.verify_public_key(org.get("public_key")):
                if org.get("public_key"):
                    log.warning(
                        "the public key of organization %s on the server does not match %s; "
                        "uploading ours (data encrypted for the old key cannot be read)",
                        who.organization_id,
                        path,
                    )
                self._client.transport.request(
                    "PATCH",
                    f"organization/{who.organization_id}",
                    json={"public_key": cryptor.public_key_str},
                )
        self.cryptor = cryptor
        self.private_key_file = path

    # -- lookups ----------------------------------------------------------------------------
    def _collaboration(self, collaboration_id: int) -> tuple[bool, SchemePolicy]:
        if collaboration_id not in self._collabs:
            collab = self._client.transport.request("GET", f"collaboration/{collaboration_id}")
            try:
                policy = SchemePolicy.of_collaboration(collab)
            except ValueError as exc:
                raise EncryptionError(f"collaboration {collaboration_id}: {exc}") from exc
            self._collabs[collaboration_id] = (bool(collab.get("encrypted")), policy)
        return self._collabs[collaboration_id]

    def collaboration_encrypted(self, collaboration_id: int) -> bool:
        return self._collaboration(collaboration_id)[0]

    def policy(self, collaboration_id: int) -> SchemePolicy:
        """The payload format policy of a collaboration (its ``encryption_scheme``)."""
        return self._collaboration(collaboration_id)[1]

    def policy_of_task(self, task: Any) -> SchemePolicy | None:
        """The policy of the collaboration of ``task`` (an id, a stub or a task); None when
        it cannot be told."""
        if isinstance(task, dict):
            collab = related_id(task.get("collaboration"))
            if collab is not None:
                return self.policy(collab)
            task = related_id(task)
        if not isinstance(task, int):
            return None
        if task not in self._task_collab:
            found = self._client.transport.request("GET", f"task/{task}").get("collaboration")
            collab = related_id(found)
            if collab is None:
                return None
            self._task_collab[task] = collab
        return self.policy(self._task_collab[task])

    def forget(self, collaboration_id: int) -> None:
        self._collabs.pop(collaboration_id, None)

    # -- payloads ---------------------------------------------------------------------------
    def recipient_key(self, organization_id: int, collaboration_id: int) -> str | None:
        """The public key to encrypt data for ``organization_id`` with, or None when the
        collaboration is not encrypted."""
        if not self.collaboration_encrypted(collaboration_id):
            return None
        if not isinstance(self.cryptor, crypto.Cryptor):
            raise EncryptionError(
                "this collaboration is encrypted: call setup_encryption(<private key file>) "
                "first (the results are encrypted for your organization's key)"
            )
        org = self._client.transport.request("GET", f"organization/{organization_id}")
        public_key = org.get("public_key")
        if not public_key:
            raise EncryptionError(
                f"organization {organization_id} ({org.get('name')}) has no public key on the "
                "server, so its input cannot be encrypted; its node must start once first"
            )
        return str(public_key)

    def encrypt_input(
        self, value: Any, organization_ids: list[int], collaboration_id: int
    ) -> list[dict[str, Any]]:
        """``[{"id": org, "input": text}]`` for a task, encrypted per organization if the
        collaboration is, in the collaboration's format."""
        policy = self.policy(collaboration_id)
        data = serialization.dumps_bytes(value)
        out: list[dict[str, Any]] = []
        for org_id in organization_ids:
            public_key = self.recipient_key(org_id, collaboration_id)
            if public_key is None:
                out.append({"id": org_id, "input": serialization.bytes_to_b64(data)})
                continue
            try:
                text = self.cryptor.encrypt_bytes_to_str(
                    data, public_key, scheme=policy.write_scheme
                )
            except ValueError as exc:
                raise EncryptionError(f"cannot encrypt for organization {org_id}: {exc}") from exc
            out.append({"id": org_id, "input": text})
        return out

    def decode(self, text: Any, task: Any = None) -> Any:
        """Decrypt (when encrypted) and JSON-decode one input or result field of ``task`` (an
        id, stub or task: its collaboration's policy applies).

        A value in a format the collaboration refuses raises :class:`EncryptionError`. Data
        that is not JSON is returned as text (or bytes when it is not UTF-8).
        """
        if text is None or text == "":
            return None
        if not isinstance(text, str):
            return text
        if crypto.detect_scheme(text) is None:
            try:
                raw = serialization.b64_to_bytes(text)
            except ValueError:
                return text  # neither encrypted nor base64: the server stored plain text
        else:
            raw = self.decode_bytes(text, task)
        return decode_payload(raw)

    def decode_bytes(self, text: str, task: Any = None) -> bytes:
        """The plain bytes of an inline input or result: decrypted, or base64-decoded.

        Raises :class:`EncryptionError` when it cannot be decrypted and ``ValueError`` when
        it is neither encrypted nor base64.
        """
        if crypto.detect_scheme(text) is None:
            return serialization.b64_to_bytes(text)
        if not isinstance(self.cryptor, crypto.Cryptor):
            raise EncryptionError(
                "this data is encrypted: call setup_encryption(<private key file>) first"
            )
        try:
            if crypto.detect_scheme(text) == crypto.SCHEME_V6:  # the only one ever refused
                policy = self.policy_of_task(task) if task is not None else None
                if policy is not None:
                    policy.check(text)
            return self.cryptor.decrypt_str_to_bytes(text)
        except crypto.DecryptionError as exc:
            raise EncryptionError(str(exc)) from exc


def decode_payload(raw: bytes) -> Any:
    """A decrypted input or result: its JSON value, else its text, else the bytes as they are."""
    try:
        return serialization.loads(raw)
    except (ValueError, UnicodeDecodeError):
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return raw


def generate_private_key(path: str | Path) -> crypto.Cryptor:
    """Create an RSA key pair, store the private key (mode 0600) and return its cryptor."""
    key = crypto.generate_private_key()
    crypto.save_private_key(key, path)
    return crypto.Cryptor(key)
