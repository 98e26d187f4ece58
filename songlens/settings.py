"""Settings: configs/default.yaml, then an optional ``--config`` YAML, then ``SONGLENS_...``
environment variables (``SONGLENS_QDRANT__URL``), then keyword arguments; validated by pydantic."""

from __future__ import annotations

import os
import re
from contextvars import ContextVar
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from songlens.content.taxonomy import config_path
from songlens.errors import ConfigError

__all__ = ["Settings", "load_settings", "get_settings"]


class QdrantSettings(BaseModel):
    url: str | None = None
    api_key: str | None = None
    path: str | None = None
    collection: str = "songs"
    hnsw_m: int = Field(64, ge=4, le=128)
    hnsw_ef_construct: int = Field(512, ge=4)
    # search-time HNSW beam width: "auto" (embedded store): per named vector, the narrowest
    # whose recall@10 reached recall_target on the collection's own songs when measured after
    # the last index build (128 until then, and on a Qdrant server); a number: that width;
    # null: the engine's default, hnsw_ef_construct (README "Search settings")
    hnsw_ef: Annotated[int, Field(ge=1, le=4096)] | Literal["auto"] | None = "auto"
    recall_target: float = Field(0.98, gt=0, le=1)
    # dense vectors are also kept as int8 (scalar quantisation, in RAM): the HNSW graph is built
    # and searched on those, and the best ``oversampling`` × limit candidates are scored again
    # with the float32 vectors, so scores stay exact; "none": float32 only. An existing store
    # gets the int8 copy at its next index build (benchmarks/lookup_recall.py, README "Search
    # settings")
    quantization: Literal["int8", "none"] = "int8"
    oversampling: float = Field(2.0, ge=1.0, le=16.0)
    search_threads: int | None = None
    # embedded store only: rebuild the search index out of process while serving once this
    # many points were written since the last build (0: never; `songlens optimize` still works)
    index_upkeep_points: int = Field(10000, ge=0)
    index_upkeep_every_s: float = Field(30.0, gt=0)
    index_build_nice: int = Field(10, ge=0, le=19)  # the build process yields the CPU
    # embedded store: a segment larger than this (KB of vectors) gets an HNSW graph when the
    # index is built; None: the engine's default
    indexing_threshold_kb: int | None = Field(None, ge=1)


class AudioSettings(BaseModel):
    sample_rate: Literal[16000] = 16000
    max_duration_s: float = Field(1200.0, gt=0)
    min_duration_s: float = Field(1.0, ge=0)
    max_upload_mb: float = Field(64.0, gt=0)
    # source frames × channels one decode may produce; None: max_duration_s × 192000 (stereo 96 kHz)
    max_decoded_samples: int | None = Field(None, gt=0)
    decode_timeout_s: float = Field(60.0, gt=0)
    # a file decoding to less than this fraction of its declared length is refused; 0 keeps any
    min_decoded_fraction: float = Field(0.5, ge=0, le=1)
    encoder: Literal["musicnn", "librosa", "transformers"] = "musicnn"
    model_path: str | None = None
    musicnn_tags: bool = True
    # most cores one song's audio model may use; None: the free cores, measured per song
    threads: int | None = Field(None, ge=1)
    # keep each ingested song's audio file under <data_dir>/audio (the web app's player)
    keep_files: bool = True


class TextSettings(BaseModel):
    model: str = "use-multilingual-v3"
    device: str = "cpu"
    # threads of the numpy/C text models (USE, e5); sentence-transformers uses torch's
    threads: int = Field(1, ge=1, le=64)
    max_comments: int = Field(200, ge=0)
    # a local folder with a sequence-classification model; replaces the sentiment lexicon
    sentiment_model: str | None = None


class FusionSettings(BaseModel):
    audio_weight: float = Field(0.65, ge=0)
    text_weight: float = Field(0.35, ge=0)


class ApiSettings(BaseModel):
    """The HTTP server: where it listens, and how much work and input it accepts at once."""

    host: str = "127.0.0.1"
    port: int = 8000
    # back-pressure: heavy requests (POST /v1/songs, POST /v1/similar with a clip) running at
    # once, waiting for a slot, and how long one may wait before a 429 too_busy
    max_heavy: int = Field(2, ge=1, le=64)
    heavy_queue: int = Field(4, ge=0, le=1024)
    queue_wait_s: float = Field(10.0, ge=0, le=600)
    retry_after_s: int = Field(5, ge=1, le=3600)
    # input sizes: a multipart text part (the song metadata), any non-multipart (JSON) body
    max_metadata_mb: float = Field(8.0, gt=0, le=256)
    max_json_mb: float = Field(2.0, gt=0, le=256)
    # on SIGTERM/SIGINT: how long requests in flight (an ingestion) may run on before they are
    # cancelled; a cancelled ingestion writes nothing
    shutdown_grace_s: float = Field(60.0, ge=0, le=3600)


class SecuritySettings(BaseModel):
    """API keys, CORS and rate limits (see songlens.api.security)."""

    keys_file: str | None = None
    allow_unauthenticated: bool = False
    public_reads: bool = False
    cors_origins: list[str] = Field(default_factory=list)
    rate_limit_per_minute: float = Field(600.0, ge=0)
    rate_limit_burst: int = Field(60, ge=1)
    key_reload_s: float = Field(2.0, ge=0)
    # host names a loopback-bound server answers to besides localhost, 127.0.0.1 and ::1 (a page
    # whose own name was re-pointed at 127.0.0.1 — DNS rebinding — is refused by its Host)
    allowed_hosts: list[str] = Field(default_factory=list)

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, v: list[str]) -> list[str]:
        out = []
        for origin in v:
            o = origin.strip().rstrip("/").lower()
            if not re.fullmatch(r"https?://[^/\s?#*]+", o):
                raise ValueError(f"cors_origins: {origin!r} is not an origin; list each one as "
                                 "scheme://host[:port] (no path, no '*')")
            out.append(o)
        return out


class DemoSettings(BaseModel):
    sources: list[str] = Field(default_factory=list)


class RankerSettings(BaseModel):
    """FTRL-Proximal ranker (see songlens.ranking.ranker.RankerConfig)."""

    complete_weight: float = Field(1.0, ge=0)
    like_weight: float = Field(1.0, ge=0)
    alpha: float = Field(0.05, gt=0)
    beta: float = Field(1.0, ge=0)
    l1: float = Field(0.5, ge=0)
    l2: float = Field(1.0, ge=0)
    n_bits: int = Field(20, ge=8, le=26)
    admit_batch: int = Field(5, ge=1)
    admit_online: int = Field(3, ge=1)
    epochs: int = Field(2, ge=1)

    @model_validator(mode="after")
    def _some_weight(self) -> RankerSettings:
        if self.complete_weight + self.like_weight <= 0:
            raise ValueError("complete_weight + like_weight must be > 0")
        return self


class RecallChannelSettings(BaseModel):
    """Recall channels (songlens.coldstart.channels) and the collaborative model's fit
    (songlens.coldstart.collaborative.ALSConfig; refit in the background after
    ``refit_every_events`` new events, at most every ``refit_min_s``)."""

    quotas: dict[Literal["content", "collaborative", "relation"], float] = Field(
        default_factory=lambda: {"content": 0.5, "collaborative": 0.3, "relation": 0.2})
    factors: int = Field(32, ge=2, le=512)
    iterations: int = Field(15, ge=1, le=100)
    regularization: float = Field(0.05, ge=0)
    alpha: float = Field(2.0, gt=0)
    min_item_users: int = Field(3, ge=1)
    threads: int = Field(1, ge=1, le=64)
    refit_every_events: int = Field(5000, ge=1)
    refit_min_s: float = Field(600.0, ge=0)
    pool_limit: int = Field(5000, ge=10, le=100_000)

    @field_validator("quotas")
    @classmethod
    def _quotas(cls, v: dict[str, float]) -> dict[str, float]:
        if any(x < 0 for x in v.values()) or sum(v.values()) <= 0:
            raise ValueError(f"quotas must be >= 0 with a positive sum, got {v}")
        return v


class CadenceSettings(BaseModel):
    """The ranker's training cadence (see songlens.ranking.cadence.CadenceConfig), used when
    ``coldstart.training`` is ``cadence``."""

    batch_days: float = Field(7.0, gt=0)
    batch_every_s: float = Field(86_400.0, gt=0)
    increment_every_s: float = Field(900.0, gt=0)
    increment_batch: int = Field(256, ge=1)
    holdout_share: float = Field(0.2, ge=0, lt=1)
    min_heldout: int = Field(50, ge=0)
    gate_margin: float = Field(0.01, ge=0)
    min_auc: float = Field(0.55, ge=0, le=1)
    negative_weight: float = Field(2.0, gt=0)
    max_history: int = Field(200_000, ge=1000)
    window_quantile: float = Field(0.95, ge=0, lt=1)


class ColdStartSettings(BaseModel):
    users_collection: str = "users"
    feedback_sync: Literal["FULL", "NORMAL"] = "FULL"
    max_batch: int = Field(5000, ge=1)
    label_window_s: float = Field(3600.0, gt=0)
    snapshot_every: int = Field(1000, ge=1)
    snapshots_kept: int = Field(3, ge=1)
    new_song_window_days: float = Field(14.0, gt=0)
    few_interactions: int = Field(50, ge=1)
    max_interests: int = Field(4, ge=1, le=8)
    long_half_life_days: float = Field(30.0, gt=0)
    short_half_life_days: float = Field(1.0, gt=0)
    recall_tag_weight: float = Field(0.3, ge=0)
    short_share: float = Field(0.2, ge=0, lt=1)
    interest_quantile: float = Field(0.8, gt=0, lt=1)
    background_songs: int = Field(512, ge=16, le=10_000)
    background_refresh_s: float = Field(3600.0, gt=0)
    event_skew_s: float = Field(86_400.0, ge=0)
    ranker: RankerSettings = Field(default_factory=RankerSettings)
    channels: RecallChannelSettings = Field(default_factory=RecallChannelSettings)
    #: ``online``: one FTRL step per sample as feedback arrives; ``cadence``: a batch fit every
    #: ``cadence.batch_every_s`` and gated mini-batch increments every
    #: ``cadence.increment_every_s``, beside the service
    training: Literal["online", "cadence"] = "online"
    cadence: CadenceSettings = Field(default_factory=CadenceSettings)
    #: a play this long after its impression's window still corrects that sample
    label_late_s: float = Field(86_400.0, ge=0)


class _Yaml(PydanticBaseSettingsSource):
    def __init__(self, settings_cls: type[BaseSettings], data: dict[str, Any]) -> None:
        super().__init__(settings_cls)
        self.data = data

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self.data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self.data)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read config file {str(path)!r}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"config file {str(path)!r} must hold a mapping, got {type(data)}")
    return data


def _merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out = dict(a)
    for k, v in b.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SONGLENS_", env_nested_delimiter="__",
                                      extra="forbid")

    data_dir: str = "./data"
    log_level: str = "INFO"
    qdrant: QdrantSettings = Field(default_factory=QdrantSettings)
    audio: AudioSettings = Field(default_factory=AudioSettings)
    text: TextSettings = Field(default_factory=TextSettings)
    fusion: FusionSettings = Field(default_factory=FusionSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    demo: DemoSettings = Field(default_factory=DemoSettings)
    coldstart: ColdStartSettings = Field(default_factory=ColdStartSettings)
    security: SecuritySettings = Field(default_factory=SecuritySettings)

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings,
                                   dotenv_settings, file_secret_settings):
        return (init_settings, env_settings, _Yaml(settings_cls, _YAML_DATA.get() or {}))

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir).expanduser()

    @property
    def qdrant_path(self) -> Path:
        if self.qdrant.path:
            return Path(self.qdrant.path).expanduser()
        return self.data_path / "qdrant"

    @property
    def keys_path(self) -> Path:
        """The API key file (hashes only): ``security.keys_file`` or <data_dir>/api_keys.json."""
        if self.security.keys_file:
            return Path(self.security.keys_file).expanduser()
        return self.data_path / "api_keys.json"


#: The YAML layer of the settings being built, for :meth:`Settings.settings_customise_sources`
#: (pydantic-settings asks the class, not the call, for its sources). Set only for the length
#: of one :func:`load_settings` call, and per thread: a plain ``Settings()`` has no YAML layer.
_YAML_DATA: ContextVar[dict[str, Any] | None] = ContextVar("songlens_yaml_settings", default=None)


def load_settings(config: str | Path | None = None, **overrides: Any) -> Settings:
    """Defaults ← ``config`` file (or ``$SONGLENS_CONFIG``) ← environment ← ``overrides``."""
    data = _read_yaml(config_path("default.yaml"))
    config = config or os.environ.get("SONGLENS_CONFIG")
    if config:
        data = _merge(data, _read_yaml(Path(config)))
    token = _YAML_DATA.set(data)
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(f"invalid settings: {exc}") from exc
    finally:
        _YAML_DATA.reset(token)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Process-wide settings (the API overrides this dependency in tests)."""
    return load_settings()
