"""Sending SMS through a configured gateway: console, file (tests and demos) or HTTP."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import threading
from pathlib import Path
from typing import Protocol

import httpx

from immunet.settings import Settings

log = logging.getLogger("immunet.sms")

TEMPLATES: dict[str, str] = {
    "otp": "Your immunet verification code is {otp}. It is valid for {minutes} minutes. "
    "Do not share it with anyone.",
    "appointment_booked": "Appointment {appointment_id} confirmed for {date} {slot} at centre "
    "{center_id}. Your secret code is {code}. Show it at the centre.",
    "staff_lookup_otp": "Your immunet verification code is {otp}. A vaccinator asks to see "
    "your family's vaccination records. Share it only with the vaccinator in front of you. "
    "Valid {minutes} minutes.",
    "appointment_cancelled": "Appointment {appointment_id} has been cancelled.",
    "session_cancelled": "Session on {date} at centre {center_id} was cancelled. "
    "Appointment {appointment_id} is void; please book again.",
    "id_conflict": "Someone registered a beneficiary on immunet with the ID number of your "
    "beneficiary ending {ref_tail}; it is shown in your access log. Vaccinators check the "
    "photo ID document before any dose, so no one is vaccinated in that person's name.",
    "break_glass": "A health worker ({organisation}) opened the record of beneficiary "
    "ending {ref_tail} outside the usual rules, giving a reason. See your access log in "
    "immunet; if this was not you, report it there.",
    # Routine-immunization reminders to the guardian, in the account's language (English,
    # Hindi). Only the beneficiary's reference tail, never a name: the phone may be shared.
    "reminder_upcoming_en": "Reminder: {vaccine} (dose {dose}) for your beneficiary ending "
    "{ref_tail} is due on {date}. Visit your vaccination centre. To stop reminders, opt out "
    "in immunet.",
    "reminder_upcoming_hi": "याद दिलाना: लाभार्थी (अंत {ref_tail}) का {vaccine} (खुराक {dose}) "
    "{date} को देय है। अपने टीकाकरण केंद्र जाएँ। रिमाइंडर बंद करने के लिए immunet में "
    "ऑप्ट-आउट करें।",
    "reminder_due_en": "Today: {vaccine} (dose {dose}) is due for your beneficiary ending "
    "{ref_tail} ({date}). Visit your vaccination centre.",
    "reminder_due_hi": "आज: लाभार्थी (अंत {ref_tail}) का {vaccine} (खुराक {dose}) देय है "
    "({date})। अपने टीकाकरण केंद्र जाएँ।",
    "reminder_missed_en": "Missed: {vaccine} (dose {dose}) for your beneficiary ending "
    "{ref_tail} was due on {date}. It can still be given: please visit your vaccination "
    "centre soon.",
    # An invitation to a routine-immunization session planned from a due list: the date,
    # the site and the check-in code of the invitation, the reference tail only.
    "routine_invitation_en": "Invitation: your beneficiary ending {ref_tail} is due for "
    "vaccination. Session on {date} at {site}. Your secret code is {code}. Show it at the "
    "session.",
    "routine_invitation_hi": "आमंत्रण: लाभार्थी (अंत {ref_tail}) का टीकाकरण देय है। सत्र "
    "{date} को {site} पर। आपका गुप्त कोड {code} है। सत्र में इसे दिखाएँ।",
    "reminder_missed_hi": "छूटी खुराक: लाभार्थी (अंत {ref_tail}) का {vaccine} (खुराक {dose}) "
    "{date} को देय था। यह अब भी दी जा सकती है: जल्द अपने टीकाकरण केंद्र जाएँ।",
}


class SmsError(RuntimeError):
    """The provider did not take the message; ``retryable`` says whether trying later may."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class SmsProviderRefused(SmsError):
    """A 4xx answer (other than 429): this message will never be accepted as it is."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)


class SmsGateway(Protocol):
    """Hands one rendered message to the provider. Services never call it: they enqueue
    in the outbox (:mod:`immunet.outbox`), and its workers deliver."""

    async def deliver(self, to: str, template: str, text: str) -> None: ...


def render(template: str, values: dict[str, str]) -> str:
    return TEMPLATES[template].format(**values)


class ConsoleSmsGateway:
    """Prints messages on the server's terminal: the demo's way of delivering OTPs."""

    async def deliver(self, to: str, template: str, text: str) -> None:
        print(f"[sms to {to}] {text}", flush=True)  # this backend's whole job


class FileSmsGateway:
    """Appends one JSON object per message to a file; tests and demos read it back."""

    _lock = threading.Lock()

    def __init__(self, path: Path) -> None:
        self.path = path

    async def deliver(self, to: str, template: str, text: str) -> None:
        record = {
            "to": to,
            "text": text,
            "template": template,
            "sent_at": dt.datetime.now(dt.UTC).isoformat(),
        }
        line = json.dumps(record, ensure_ascii=False) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            with os.fdopen(fd, "a", encoding="utf-8") as handle:
                handle.write(line)


class HttpSmsGateway:
    """Posts ``{"to", "text", "template"}`` to a provider URL with a bearer token."""

    def __init__(self, url: str, token: str, timeout: float) -> None:
        self._url = url
        self._token = token
        self._timeout = timeout

    async def deliver(self, to: str, template: str, text: str) -> None:
        async with httpx.AsyncClient(timeout=self._timeout, follow_redirects=False) as client:
            try:
                response = await client.post(
                    self._url,
                    json={"to": to, "text": text, "template": template},
                    headers={"Authorization": f"Bearer {self._token}"},
                )
            except httpx.HTTPError as exc:
                raise SmsError(f"SMS provider unreachable: {type(exc).__name__}") from exc
        status = response.status_code
        if 400 <= status < 500 and status not in (408, 429):
            raise SmsProviderRefused(f"SMS provider refused the message: {status}")
        if status >= 300:
            raise SmsError(f"SMS provider answered {status}")


def build_sms_gateway(settings: Settings) -> SmsGateway:
    backend = settings.sms_backend
    if backend == "console":
        return ConsoleSmsGateway()
    if backend.startswith("file:"):
        return FileSmsGateway(Path(backend.removeprefix("file:")))
    if backend == "http":
        if not settings.sms_http_url or not settings.sms_http_token:
            raise SmsError("the http SMS backend needs IMMUNET_SMS_HTTP_URL and _TOKEN")
        return HttpSmsGateway(
            settings.sms_http_url, settings.sms_http_token, settings.sms_http_timeout_seconds
        )
    raise SmsError(f"unknown SMS backend {backend!r}")
