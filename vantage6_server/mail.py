"""Outgoing e-mail over SMTP (password and 2FA recovery)."""

from __future__ import annotations

import logging
import queue
import smtplib
import threading
from collections.abc import Callable
from email.message import EmailMessage

from vantage6_server.settings import SmtpSettings

log = logging.getLogger(__name__)
#: mail jobs waiting for the mail thread; beyond this, new ones are dropped (and logged)
MAX_PENDING_JOBS = 1000


class Mailer:
    def __init__(self, settings: SmtpSettings | None) -> None:
        self.settings = settings
        self._jobs: queue.Queue[Callable[[], None]] = queue.Queue(MAX_PENDING_JOBS)
        self._worker: threading.Thread | None = None
        self._lock = threading.Lock()

    def later(self, job: Callable[[], None]) -> None:
        """Run ``job`` in the mail thread, after the caller has answered its request.

        Recovery requests put their whole work here (account lookup, token, mail), so that
        neither their answer nor its time depends on whether the account exists.
        """
        with self._lock:
            if self._worker is None:
                self._worker = threading.Thread(target=self._work, name="mail", daemon=True)
                self._worker.start()
        try:
            self._jobs.put_nowait(job)
        except queue.Full:
            log.warning("Mail queue full; a recovery request was dropped")

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            try:
                job()
            except Exception:  # noqa: BLE001 - one failed job must not stop the mail thread
                log.exception("Mail job failed")

    @property
    def enabled(self) -> bool:
        return self.settings is not None

    def send(self, to: str, subject: str, body: str) -> bool:
        """Send one plain-text mail; failures are logged, never shown to the requester."""
        if self.settings is None:
            log.warning("SMTP not configured; mail to %s not sent", to)
            return False
        msg = EmailMessage()
        msg["From"] = self.settings.sender
        msg["To"] = to
        msg["Subject"] = subject
        msg.set_content(body)
        try:
            with smtplib.SMTP(self.settings.host, self.settings.port, timeout=10) as smtp:
                if self.settings.use_tls:
                    smtp.starttls()
                if self.settings.username:
                    smtp.login(self.settings.username, self.settings.password or "")
                smtp.send_message(msg)
            return True
        except (OSError, smtplib.SMTPException) as exc:
            log.error("Could not send mail to %s: %s", to, exc)
            return False
