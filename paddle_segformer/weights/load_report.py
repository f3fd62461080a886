"""The report of a load: which keys loaded, were missing, unexpected, mis-shaped, re-initialised or adapted."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Dict, List, Mapping, Optional, Tuple

if TYPE_CHECKING:
    from .pretrained_cache import PretrainedFile


@dataclass
class LoadReport:
    """What a load did: keys loaded, missing from the file, unexpected in it, or mis-shaped."""

    source: str
    loaded: List[str] = field(default_factory=list)
    missing: List[str] = field(default_factory=list)
    unexpected: List[str] = field(default_factory=list)
    mismatched: List[Tuple[str, Tuple[int, ...], Tuple[int, ...]]] = field(default_factory=list)
    reinitialised: List[str] = field(default_factory=list)
    adapted: List[str] = field(default_factory=list)
    skipped: bool = False  # strict loading was turned off and something did not load
    origin: Optional["PretrainedFile"] = None  # the file loaded (pretrained weights): source, path, sha256

    @property
    def ok(self) -> bool:
        """Nothing missing and nothing mis-shaped."""
        return not (self.missing or self.mismatched)

    def provenance(self) -> Dict[str, object]:
        """Where the weights came from (source as given, file read, sha256) and what was changed to fit them."""
        origin = self.origin
        return {"source": origin.source if origin else self.source, "file": origin.path if origin else None,
                "sha256": origin.sha256 if origin else None, "adapted": list(self.adapted),
                "reinitialised": list(self.reinitialised), "not_loaded": self.skipped}

    def summary(self, limit: int = 8) -> str:
        """One line of counts (naming the source), then the keys of each kind, ``limit`` at most."""
        def cut(items) -> str:
            items = [str(i) for i in items]
            more = f" ... (+{len(items) - limit} more)" if len(items) > limit else ""
            return ", ".join(items[:limit]) + more

        lines = [f"{self.source}: loaded {len(self.loaded)}, missing {len(self.missing)}, "
                 f"unexpected {len(self.unexpected)}, shape-mismatched {len(self.mismatched)}"]
        if self.missing:
            lines.append(f"  missing: {cut(self.missing)}")
        if self.unexpected:
            lines.append(f"  unexpected: {cut(self.unexpected)}")
        if self.mismatched:
            lines.append("  mismatched (key, file, model): " + cut(self.mismatched))
        if self.reinitialised:
            lines.append(f"  re-initialised (class count differs): {cut(self.reinitialised)}")
        if self.adapted:
            lines.append(f"  adapted to the model's band count: {cut(self.adapted)}")
        if self.skipped:
            lines.append("  strict loading is off: the keys above were NOT loaded and keep their initial values")
        return "\n".join(lines)


def shape_of(value: object) -> Tuple[int, ...]:
    """A tensor's or array's shape as a tuple of ints."""
    return tuple(int(s) for s in value.shape)


def compare_state_dicts(model_sd: Mapping, ckpt_sd: Mapping, source: str = "checkpoint") -> LoadReport:
    """Classify every key of ``model_sd`` and ``ckpt_sd`` without changing anything."""
    report = LoadReport(source=source)
    for key, value in model_sd.items():
        if key not in ckpt_sd:
            report.missing.append(key)
        elif shape_of(ckpt_sd[key]) != shape_of(value):
            report.mismatched.append((key, shape_of(ckpt_sd[key]), shape_of(value)))
        else:
            report.loaded.append(key)
    report.unexpected = [k for k in ckpt_sd if k not in model_sd]
    return report
