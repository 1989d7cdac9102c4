"""Outgoing e-mail over SMTP (password and 2FA recovery)."""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage

from vantage6_server.settings import SmtpSettings

log = logging.getLogger(__name__)


class Mailer:
    def __init__(self, settings: SmtpSettings | None) -> None:
        self.settings = settings

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
