"""The tiny student: config, model, save/load, and its torch scorer (bundle kind `student-torch`).

A small BERT encoder (default 4 layers x 192 hidden, 4 heads, FFN 768, 96 tokens, 8192
unigram vocabulary: about 3.4 M parameters) with the teacher's two heads on the [CLS]
vector: a 2-way scam-vs-not softmax and a 1-logit topic sigmoid.

A student directory (what `janitr distill` writes and `janitr export` reads) holds:

    model.safetensors      encoder + heads (no pickle, ever)
    student_config.json    format version + `StudentConfig`
    tokenizer.json         the tokenizer the student was trained with

Training (`distill.py`), export (`export.py`) and the ONNX runtime (`onnx_runtime.py`) all
turn text into ids with `onnx_runtime.encode_batch`, so every backend sees the same tokens.
The train-time projections that match teacher hidden states live in `distill.py`; they are
not part of the student and never exported. torch is imported only when a model is built or
loaded; serving an exported student (`onnx_runtime.py`) never imports it.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from janitr.artifacts import read_json, write_json
from janitr.config import Config, ConfigProblem, option, positive_ints, raise_problems
from janitr.errors import BundleError, require

if TYPE_CHECKING:  # pragma: no cover
    from janitr.runtime.bundle import Bundle

FORMAT = "janitr-student"
FORMAT_VERSION = 1
CONFIG_FILE = "student_config.json"
WEIGHTS_FILE = "model.safetensors"
TOKENIZER_FILE = "tokenizer.json"


@dataclass(frozen=True)
class StudentConfig(Config):
    """Architecture of the student encoder (`janitr distill` flags). Validated on
    construction."""

    vocab_size: int = option(
        8192, help="tokenizer vocabulary size (special tokens included); must match it"
    )
    layers: int = option(4, help="transformer layers")
    hidden: int = option(192, help="hidden size; must be divisible by --heads")
    heads: int = option(4, help="attention heads")
    ffn: int = option(768, help="feed-forward (intermediate) size")
    dropout: float = option(
        0.1, help="dropout on hidden states, attention probabilities and the [CLS] vector"
    )
    max_length: int = option(
        96, help="tokens per text ([CLS] and [SEP] included); longer texts are truncated"
    )
    pad_token_id: int = option(0, cli=False, help="id of [PAD] in the tokenizer")

    def __post_init__(self) -> None:
        problems = positive_ints(self, ("vocab_size", "layers", "hidden", "heads", "ffn"))
        if self.heads >= 1 and self.hidden % self.heads:
            problems.append(
                ConfigProblem(
                    "hidden",
                    f"must be divisible by heads, got {self.hidden} and {self.heads} heads",
                    ("heads",),
                )
            )
        if not 0.0 <= self.dropout < 1.0:
            problems.append(ConfigProblem("dropout", f"must be in [0, 1), got {self.dropout}"))
        if self.max_length < 3:
            problems.append(
                ConfigProblem(
                    "max_length", f"must be >= 3 ([CLS] text [SEP]), got {self.max_length}"
                )
            )
        if not 0 <= self.pad_token_id < max(self.vocab_size, 1):
            problems.append(
                ConfigProblem(
                    "pad_token_id", f"must be in [0, vocab_size), got {self.pad_token_id}"
                )
            )
        raise_problems(self, problems)

    def to_dict(self) -> dict:
        return asdict(self)

    def bert_config(self):
        """The transformers `BertConfig` of the encoder."""
        BertConfig = require("transformers", extra="train").BertConfig

        return BertConfig(
            vocab_size=self.vocab_size,
            hidden_size=self.hidden,
            num_hidden_layers=self.layers,
            num_attention_heads=self.heads,
            intermediate_size=self.ffn,
            hidden_dropout_prob=self.dropout,
            attention_probs_dropout_prob=self.dropout,
            # A little room above max_length so a config change never indexes past the table.
            max_position_embeddings=max(128, self.max_length + 8),
            type_vocab_size=1,
            pad_token_id=self.pad_token_id,
            # Plain matmul/softmax attention: traces to a simple ONNX graph that onnxruntime
            # fuses and quantizes, and gives the same numbers in training and export.
            attn_implementation="eager",
        )


@functools.cache
def _define_model_class():
    """Define `StudentModel` on first use, so importing this module (e.g. for `StudentConfig`
    in the CLI) does not import torch."""
    torch = require("torch", extra="train")
    nn = torch.nn

    class StudentModel(nn.Module):
        """BERT encoder -> [CLS] -> dropout -> scam head (H->2) and topic head (H->1).

        Builds fresh weights from torch's global RNG: seed before constructing.
        """

        def __init__(self, config: StudentConfig):
            super().__init__()
            BertModel = require("transformers", extra="train").BertModel

            self.config = config
            self.encoder = BertModel(config.bert_config(), add_pooling_layer=False)
            self.dropout = nn.Dropout(config.dropout)
            self.scam_head = nn.Linear(config.hidden, 2)
            self.topic_head = nn.Linear(config.hidden, 1)

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor):
            """(B, T) int64 ids and mask -> scam logits (B, 2), topic logits (B,).

            Positional arguments only: ONNX tracing passes inputs positionally.
            """
            scam, topic, _ = self.forward_with_hidden(input_ids, attention_mask, hidden=False)
            return scam, topic

        def forward_with_hidden(self, input_ids, attention_mask, hidden: bool = True):
            """Heads plus the [CLS] vector of every layer, for hidden-state distillation.

            Returns:
                scam logits (B, 2), topic logits (B,), and the layer CLS states (B, L, H) of
                layers 1..L (the embedding output left out), or None if `hidden` is false.
            """
            out = self.encoder(
                input_ids=input_ids,
                attention_mask=attention_mask,
                output_hidden_states=hidden,
                return_dict=True,
            )
            cls = self.dropout(out.last_hidden_state[:, 0])  # (B, H)
            scam = self.scam_head(cls)  # (B, 2)
            topic = self.topic_head(cls).squeeze(-1)  # (B,)
            layers = None
            if hidden:
                # hidden_states: L+1 tensors (B, T, H); [0] is the embedding output.
                layers = torch.stack([h[:, 0] for h in out.hidden_states[1:]], dim=1)
            return scam, topic, layers

        def predict_proba(self, input_ids, attention_mask):
            """p(scam) (B,) and p(topic) (B,). Call `eval()` first for deterministic output."""
            scam, topic = self.forward(input_ids, attention_mask)
            return torch.softmax(scam, dim=-1)[:, 1], torch.sigmoid(topic)

        def count_parameters(self) -> int:
            """Number of parameters (every one of them is used at inference)."""
            return sum(p.numel() for p in self.parameters())

        def save(self, out_dir: str | Path) -> None:
            """Write `model.safetensors` and `student_config.json` into `out_dir`."""
            save_student(self, out_dir)

    return StudentModel


def __getattr__(name: str):
    # `from janitr.student.model import StudentModel` builds the class (and imports torch) lazily.
    if name == "StudentModel":
        return _define_model_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def build_model(config: StudentConfig):
    """A freshly initialised `StudentModel` (uses torch's global RNG: seed before calling)."""
    return _define_model_class()(config)


def save_student(model, out_dir: str | Path) -> None:
    """Write the weights (safetensors) and the versioned config of a student into `out_dir`."""
    save_file = require("safetensors.torch", extra="train").save_file

    from janitr.artifacts import atomic_path

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    with atomic_path(out_dir / WEIGHTS_FILE) as tmp:
        save_file(state, str(tmp), metadata={"format": FORMAT})
    write_json(
        out_dir / CONFIG_FILE,
        {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "config": model.config.to_dict(),
            "parameters": model.count_parameters(),
        },
    )


def read_student_config(path: str | Path) -> StudentConfig:
    """Read `student_config.json` (a file or the directory holding it), checking its version.

    Raises:
        BundleError: if it is missing or of another format version.
    """
    path = Path(path)
    file = path / CONFIG_FILE if path.is_dir() else path
    if not file.is_file():
        raise BundleError(
            f"{file}: no student config; pass a directory written by `janitr distill`"
        )
    data = read_json(file)
    if data.get("format") != FORMAT or data.get("format_version") != FORMAT_VERSION:
        raise BundleError(
            f"{file}: expected {FORMAT} v{FORMAT_VERSION}, found "
            f"{data.get('format')!r} v{data.get('format_version')!r}; "
            "re-run `janitr distill` with this version of janitr"
        )
    return StudentConfig.from_dict(data["config"])


def load_student(student_dir: str | Path):
    """Load a saved student in eval mode.

    Raises:
        BundleError: if the config or weights are missing or do not fit each other.
    """
    load_file = require("safetensors.torch", extra="train").load_file

    student_dir = Path(student_dir)
    config = read_student_config(student_dir)
    weights = student_dir / WEIGHTS_FILE
    if not weights.is_file():
        raise BundleError(f"{weights}: student weights missing; re-run `janitr distill`")
    model = build_model(config)
    state = load_file(str(weights))
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise BundleError(
            f"{weights}: weights do not fit student_config.json (missing "
            f"{sorted(missing)[:3]}, unexpected {sorted(unexpected)[:3]})"
        )
    return model.eval()


def count_parameters(config: StudentConfig) -> int:
    """Parameters of a student with this architecture (builds it once on CPU)."""
    return build_model(config).count_parameters()


class TorchStudentScorer:
    """Scores normalized texts with a torch student (bundle kind `student-torch`).

    Uses the same `encode_batch` as the ONNX scorer; batches are length-sorted and padded
    to their longest text.
    """

    def __init__(self, model, tokenizer, *, max_length: int, batch_size: int = 64):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.batch_size = batch_size

    @classmethod
    def from_dir(cls, student_dir: str | Path, *, batch_size: int = 64) -> TorchStudentScorer:
        """Load the model and `tokenizer.json` of a student directory."""
        from janitr.student.tokenizer import load_tokenizer

        model = load_student(student_dir)
        tok = load_tokenizer(
            Path(student_dir) / TOKENIZER_FILE, expected_vocab_size=model.config.vocab_size
        )
        return cls(model, tok, max_length=model.config.max_length, batch_size=batch_size)

    def predict_heads(self, texts: Sequence[str]) -> np.ndarray:
        """(N, 2) float64: p(scam), p(topic) per normalized text."""
        from janitr.runtime.onnx import encode_batch, length_sorted_batches

        torch = require("torch", extra="train")
        out = np.zeros((len(texts), 2), dtype=np.float64)
        with torch.inference_mode():
            for idx in length_sorted_batches(
                self.tokenizer, texts, self.batch_size, self.max_length
            ):
                ids, mask = encode_batch(
                    self.tokenizer, [texts[i] for i in idx], max_length=self.max_length
                )
                p_scam, p_topic = self.model.predict_proba(
                    torch.from_numpy(ids), torch.from_numpy(mask)
                )
                out[idx, 0] = p_scam.double().numpy()
                out[idx, 1] = p_topic.double().numpy()
        return out


def load_scorer(bundle: Bundle) -> TorchStudentScorer:
    """Scorer of a `student-torch` bundle (files: model.safetensors, student_config.json,
    tokenizer.json)."""
    for name in (WEIGHTS_FILE, CONFIG_FILE, TOKENIZER_FILE):
        bundle.file(name)
    return TorchStudentScorer.from_dir(bundle.path)
