"""One exception hierarchy for songlens.

Every error a client can cause is a :class:`SonglensError` subclass with a stable ``code``; the API
maps each class to one HTTP status in a single handler, and the CLI prints ``code: message``.
Messages echo the bad value and, where there is a closed set, list what is allowed.
"""

from __future__ import annotations

__all__ = [
    "SonglensError",
    "InvalidInput",
    "InvalidJSON",
    "InvalidMetadata",
    "UnknownTag",
    "AudioError",
    "UnsupportedAudio",
    "EmptyAudio",
    "SilentAudio",
    "AudioTooLong",
    "AudioTooShort",
    "AudioTooLarge",
    "DecodeTimeout",
    "PayloadTooLarge",
    "NotFound",
    "StoreError",
    "StoreBusy",
    "InvalidHost",
    "ModelError",
    "ConfigError",
    "InsecureBind",
    "Unauthorized",
    "Forbidden",
    "ForbiddenOrigin",
    "RateLimited",
]


class SonglensError(Exception):
    """Base class. ``code`` is stable and machine-readable; ``status`` is the HTTP status."""

    code = "songlens_error"
    status = 500

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidInput(SonglensError):
    code = "invalid_input"
    status = 422


class InvalidJSON(InvalidInput):
    code = "invalid_json"


class InvalidMetadata(InvalidInput):
    code = "invalid_metadata"


class UnknownTag(InvalidInput):
    code = "unknown_tag"


class AudioError(InvalidInput):
    """The uploaded bytes are not usable audio."""

    code = "invalid_audio"
    status = 415


class UnsupportedAudio(AudioError):
    code = "unsupported_audio"


class EmptyAudio(AudioError):
    code = "empty_audio"
    status = 400


class SilentAudio(AudioError):
    code = "silent_audio"
    status = 422


class AudioTooLong(AudioError):
    code = "audio_too_long"
    status = 413


class AudioTooShort(AudioError):
    code = "audio_too_short"
    status = 422


class AudioTooLarge(AudioError):
    """Decoded, the upload would be more samples × channels than ``audio.max_decoded_samples``
    (a small, highly compressed file can declare gigabytes of audio)."""

    code = "audio_too_large"
    status = 413


class DecodeTimeout(SonglensError):
    """Decoding ran past ``audio.decode_timeout_s``. Input within the size limits decodes well
    inside that budget on an idle machine, so this means the server is overloaded: 503, retry
    later (not an :class:`AudioError`: the file is not known to be at fault)."""

    code = "decode_timeout"
    status = 503


class PayloadTooLarge(InvalidInput):
    code = "payload_too_large"
    status = 413


class NotFound(SonglensError):
    code = "not_found"
    status = 404


class StoreError(SonglensError):
    """The vector store failed (either backend); the original error is chained."""

    code = "store_error"
    status = 503


class StoreBusy(StoreError):
    """The embedded store is held by another process."""

    code = "store_busy"


class InvalidHost(InvalidInput):
    """The request's Host is not a name this server answers to (DNS rebinding defence)."""

    code = "invalid_host"
    status = 400


class ModelError(SonglensError):
    """A model could not be loaded or run (missing weights, wrong path, missing optional extra)."""

    code = "model_error"
    status = 500


class ConfigError(SonglensError):
    code = "config_error"
    status = 500


class VectorSizeMismatch(ConfigError):
    """A collection was written with other vector sizes than the configured models give.

    ``changed`` maps each differing vector name to ``(stored, configured)``."""

    def __init__(self, message: str, *, changed: dict[str, tuple[int | None, int]]) -> None:
        super().__init__(message)
        self.changed = changed


class InsecureBind(ConfigError):
    """``serve`` on a non-loopback address with no API key (and no explicit override)."""

    code = "insecure_bind"


class Unauthorized(SonglensError):
    """No API key, or one that is unknown, malformed or revoked."""

    code = "unauthorized"
    status = 401


class Forbidden(SonglensError):
    """A valid API key without the scope the endpoint needs."""

    code = "forbidden"
    status = 403


class ForbiddenOrigin(Forbidden):
    """A state-changing request from a web page of another origin (cross-site request)."""

    code = "forbidden_origin"


class RateLimited(SonglensError):
    """The caller's request budget is spent; ``retry_after_s`` says when to come back."""

    code = "rate_limited"
    status = 429

    def __init__(self, message: str, *, retry_after_s: int, **details: object) -> None:
        super().__init__(message, retry_after_s=retry_after_s, **details)
        self.retry_after_s = retry_after_s
