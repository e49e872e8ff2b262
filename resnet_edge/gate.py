"""gate(candidate, baseline, config) -> GateResult: a CI check that fails only on real regressions.

Latency: candidate and baseline are measured interleaved in one process; the gate fails only when the whole
confidence interval of the latency ratio lies above 1 + max_slowdown, so noise on a shared runner does not
raise alarms and a real slowdown of the threshold plus the noise does. MACs, params, size, operator count,
flash and peak RAM (resnet_edge.footprint) are deterministic: they fail exactly when over their limits. Writes
JSON and JUnit XML.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from resnet_edge.config import BenchConfig
from resnet_edge.errors import ConfigError
from resnet_edge.fsutil import write_json, write_text
from resnet_edge.settings import setting

_SI = {"": 1, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "KB": 1e3, "MB": 1e6, "GB": 1e9, "KIB": 1024, "MIB": 1024**2}


def parse_percent(text: str, what: str) -> float:
    """'10%' or '10' -> 0.10; anything else is a ConfigError naming `what`."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*%?\s*", str(text))
    if not m:
        raise ConfigError(f"{what} {text!r} is not a percentage; give e.g. 10% (a number >= 0, '%' optional)")
    return _finite(float(m.group(1)) / 100, text, what)


def _finite(value: float, text: str, what: str) -> float:
    """A threshold that overflowed to infinity would make a gate that can never fail."""
    if not math.isfinite(value):
        raise ConfigError(f"{what} {text[:40]!r} is too large to be a threshold; give a finite number")
    return value


@dataclass(frozen=True)
class Limit:
    """An absolute ceiling (40M MACs, 2.5MB) or one relative to the baseline (+5%: at most 5 % more)."""

    value: float
    relative: bool = False

    @classmethod
    def parse(cls, text: str, what: str) -> Limit:
        text = str(text).strip()
        if text.startswith("+"):
            return cls(parse_percent(text[1:], what), relative=True)
        m = re.fullmatch(r"(\d+(?:\.\d+)?(?:e\d+)?)\s*([a-zA-Z]*)", text)
        unit = m.group(2).upper() if m else ""
        if not m or unit not in {u.upper() for u in _SI}:
            accepted = "an amount (40M, 2.5MB, 1200) or +P% of the baseline"
            raise ConfigError(f"{what} {text!r} is not accepted; give {accepted}")
        scale = next(v for u, v in _SI.items() if u.upper() == unit)
        return cls(_finite(float(m.group(1)) * scale, text, what))

    def ceiling(self, baseline: float) -> float:
        return baseline * (1 + self.value) if self.relative else self.value


STATIC_LIMITS = ("max_macs", "max_params", "max_size", "max_ops", "max_flash", "max_ram")


@dataclass(frozen=True)
class GateConfig:
    """What a candidate must not exceed. Text (`10%`, `40M`, `+5%`) is parsed; max_slowdown is then a fraction."""

    max_slowdown: float = setting("10%", "Latency threshold, e.g. 10%.", text=True)
    max_macs: Limit | None = setting(None, "MACs ceiling: 40M, or +5% of the baseline.", text=True)
    max_params: Limit | None = setting(None, "Params ceiling: 1.2M, or +5%.", text=True)
    max_size: Limit | None = setting(None, "File size ceiling: 2.5MB, or +5%.", text=True)
    max_ops: Limit | None = setting(None, "Operator count ceiling: 120, or +0%.", text=True)
    max_flash: Limit | None = setting(None, "Flash ceiling (the file's bytes): 512KB, 2MB, or +5%.", text=True)
    max_ram: Limit | None = setting(
        None, "Peak RAM ceiling (activation arena as TFLite Micro plans it; .tflite/.onnx): 256KiB, or +5%.", text=True
    )
    threads: int = setting(1, "Threads for the latency check (one is the least noisy on a shared runner).")
    rounds: int = setting(100, "Interleaved rounds (each: a block of timed runs per model).")
    warmup: int = setting(3, "Warm-up rounds, not measured.")
    confidence: float = setting(0.95, "Confidence level of the latency ratio's interval.")
    seed: int = setting(0, "Seed of the bootstrap.")

    def __post_init__(self) -> None:
        if isinstance(self.max_slowdown, str):
            object.__setattr__(self, "max_slowdown", parse_percent(self.max_slowdown, "--max-slowdown"))
        for name in STATIC_LIMITS:
            value = getattr(self, name)
            if value is not None and not isinstance(value, Limit):
                object.__setattr__(self, name, Limit.parse(value, f"--{name.replace('_', '-')}"))
        if self.max_slowdown < 0:
            raise ConfigError(f"max slowdown {self.max_slowdown!r} is negative; give a percentage >= 0")
        if not isinstance(self.threads, int) or self.threads < 0:
            raise ConfigError(f"threads {self.threads!r} are not accepted; give a count >= 1, or 0 for all cores")
        if self.rounds < 5:
            raise ConfigError(f"rounds {self.rounds!r} are too few for an interval; give >= 5")


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    value: float
    limit: float
    message: str


@dataclass(frozen=True)
class GateResult:
    candidate: str
    baseline: str
    checks: tuple[Check, ...]

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    def to_dict(self) -> dict[str, Any]:
        return {"candidate": self.candidate, "baseline": self.baseline, "passed": self.passed,
                "checks": [asdict(c) for c in self.checks]}  # fmt: skip


def _static_check(name: str, limit: Limit | None, value: float, base: float) -> Check | None:
    if limit is None:
        return None
    ceiling = limit.ceiling(base)
    rel = f" ({100 * (value / base - 1):+.1f} % vs baseline)" if base else ""
    return Check(name, value <= ceiling, value, ceiling, f"{name} {value:,.0f}{rel}, limit {ceiling:,.0f}")


def gate(candidate: str | Path, baseline: str | Path, config: GateConfig | None = None) -> GateResult:
    """Run every check of `config` on `candidate` against `baseline`."""
    from resnet_edge.bench import measure

    config = config or GateConfig()
    if config.max_ram is not None:
        _ram_plannable(candidate, baseline, relative=config.max_ram.relative)
    bench = BenchConfig(threads=(config.threads,), warmup=config.warmup, rounds=config.rounds,
                        confidence=config.confidence, seed=config.seed)  # fmt: skip
    result = measure([candidate], baseline=baseline, config=bench)
    base, cand = result.rows
    threads = str(result.threads[0])  # 0 ("all cores") resolved to the machine's count
    ratio = cand.ratio[threads]
    limit = 1 + config.max_slowdown
    latency = Check("latency", ratio.low <= limit, ratio.median, limit,
                    f"latency ratio {ratio.median:.3f} [{ratio.low:.3f}, {ratio.high:.3f}] at {config.confidence:.0%} "
                    f"confidence, {threads} thread(s), {cand.latency[threads]['runs']} rounds; "
                    f"fails when the interval lies above {limit:.2f}")  # fmt: skip
    statics = [
        _static_check("macs", config.max_macs, cand.macs, base.macs),
        _static_check("params", config.max_params, cand.params, base.params),
        _static_check("size_bytes", config.max_size, cand.bytes, base.bytes),
        _static_check("operators", config.max_ops, cand.ops, base.ops),
        _static_check("flash_bytes", config.max_flash, cand.bytes, base.bytes),
        _static_check("ram_bytes", config.max_ram, cand.ram_bytes or 0, base.ram_bytes or 0),
    ]
    return GateResult(cand.path, base.path, (latency, *(c for c in statics if c is not None)))


def _ram_plannable(candidate: str | Path, baseline: str | Path, *, relative: bool) -> None:
    """--max-ram needs a planned arena: the candidate's, and the baseline's for a +P% limit."""
    from resnet_edge.footprint import footprint

    for role, path in (("candidate", candidate), *((("baseline", baseline),) if relative else ())):
        found = footprint(path)
        if found.ram_bytes is None:
            raise ConfigError(f"--max-ram: the {role} '{path}' has no planned peak RAM ({found.note}); "
                              "give a .tflite or .onnx file")  # fmt: skip


def write_junit(result: GateResult, path: str | Path) -> None:
    """One JUnit test suite, one test case per check; CI systems show failures by name."""
    failures = sum(not c.passed for c in result.checks)
    suite = ET.Element("testsuite", name="resnet-edge gate", tests=str(len(result.checks)), failures=str(failures))
    for c in result.checks:
        case = ET.SubElement(suite, "testcase", classname="resnet_edge.gate", name=f"{c.name}: {result.candidate}")
        if not c.passed:
            ET.SubElement(case, "failure", message=c.message).text = c.message
        ET.SubElement(case, "system-out").text = c.message
    write_text(path, ET.tostring(ET.ElementTree(suite).getroot(), encoding="unicode", xml_declaration=True) + "\n")


def write_result(result: GateResult, path: str | Path) -> None:
    write_json(path, result.to_dict())
