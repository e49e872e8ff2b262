"""check(path, config=CheckConfig(target=...)) -> CheckResult: will the accelerator take this `.tflite`?

Every operator is held against the target's published rules (`rules.py`: the Coral Edge TPU's supported-operations
table, Arm Ethos-U's Vela list for a generic int8 NPU): not full-integer (float tensors, a dequantize in the middle),
not on the list, on the list only from a newer Edge TPU runtime, or breaking a listed constraint. The result says
which ops would run on the CPU; the Edge TPU compiler maps only up to the first op it cannot, so one such op sends
everything after it to the CPU too. `cpu` (LiteRT's builtin kernels) only loads the file and reports its types.

What cannot be seen in a file is not checked: the vendor compilers themselves, on-chip memory, and constraints that
depend on their internal decisions; README lists them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from resnet_edge.check.graph import Graph, Op, read_tflite
from resnet_edge.check.limits import TESTS
from resnet_edge.check.rules import RULES, Level, TargetRules
from resnet_edge.config import CheckConfig, QuantizeConfig, Target
from resnet_edge.errors import ModelFileError

ACCEPTED = ".tflite"


@dataclass(frozen=True)
class Finding:
    index: int  # the operator's position in execution order
    op: str
    version: int
    level: Level
    reasons: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "op": self.op, "version": self.version, "level": self.level.value,
                "reasons": list(self.reasons)}  # fmt: skip


@dataclass(frozen=True)
class CheckResult:
    path: Path
    target: Target
    rules: str  # the rule set's name ("Coral Edge TPU")
    source: str | None  # where its rules are published
    fallback: str  # what the target does with an op it cannot run, in the source's words
    input: dict[str, Any]
    output: dict[str, Any]
    ops: int
    op_counts: dict[str, int]
    findings: tuple[Finding, ...]
    accelerated: int  # ops the accelerator would run
    first_cpu_op: int | None  # Edge TPU: the op from which everything runs on the CPU
    edgetpu_runtime: int | None = None

    @property
    def ready(self) -> bool:
        """Nothing would fall back to the CPU."""
        return self.accelerated == self.ops

    @property
    def exit_code(self) -> int:
        return 0 if self.ready else 1

    def to_dict(self) -> dict[str, Any]:
        return {"artifact": self.path.name, "target": self.target.value, "rules": self.rules, "source": self.source,
                "edgetpu_runtime": self.edgetpu_runtime, "ready": self.ready, "input": self.input,
                "output": self.output, "ops": self.ops, "accelerated": self.accelerated,
                "first_cpu_op": self.first_cpu_op, "fallback": self.fallback, "op_counts": self.op_counts,
                "findings": [f.to_dict() for f in self.findings]}  # fmt: skip


def check(path: str | Path, *, config: CheckConfig) -> CheckResult:
    """Hold the `.tflite` at `path` against `config.target`'s published rules."""
    path = Path(path)
    if path.suffix.lower() != ACCEPTED:
        raise ModelFileError(f"check reads TFLite ({ACCEPTED}): the Edge TPU compiler and Vela take TFLite; "
                             f"received '{path}'")  # fmt: skip
    graph = read_tflite(path)
    rules = RULES[config.target]
    runtime = config.edgetpu_runtime if config.target is Target.EDGETPU else None
    findings = _findings(graph, rules, runtime or 0) if rules is not None else []
    cpu = [f.index for f in findings if f.level is Level.CPU]
    first = cpu[0] if cpu and rules is not None and rules.one_segment else None
    # one segment (Edge TPU): the ops before the first it cannot run; else every op but those it cannot
    accelerated = first if first is not None else len(graph.ops) - len(cpu)
    return CheckResult(
        path=path,
        target=config.target,
        rules=rules.name if rules else "LiteRT builtin ops (CPU)",
        source=rules.source if rules else None,
        fallback=rules.fallback if rules else "",
        input=graph.inputs[0].to_dict(),
        output=graph.outputs[0].to_dict(),
        ops=len(graph.ops),
        op_counts=dict(Counter(op.name for op in graph.ops)),
        findings=tuple(findings),
        accelerated=accelerated,
        first_cpu_op=first,
        edgetpu_runtime=runtime,
    )


def _findings(graph: Graph, rules: TargetRules, runtime: int) -> list[Finding]:
    found = (_op_finding(op, rules, runtime) for op in graph.ops)
    return [f for f in found if f is not None]


def _op_finding(op: Op, rules: TargetRules, runtime: int) -> Finding | None:
    """The reasons `op` would not run on the accelerator (CPU) or might not everywhere (WARN); None when it runs."""
    rule = rules.ops.get(op.name)
    broken: list[tuple[Level, str]] = []
    if rule is None:
        broken.append((Level.CPU, f"not on the {rules.name} list"))
    elif rule.since > runtime > 0:
        broken.append((Level.CPU, f"needs Edge TPU runtime {rule.since}+ (checked for {runtime})"))
    limits = rules.generic + (rule.limits_for(runtime) if rule is not None else ())
    for limit in limits:
        if op.name not in limit.exempt:
            reason = TESTS[limit.test](op, limit.arg)
            if reason is not None:
                broken.append((limit.level, reason))
    if not broken:
        return None
    level = Level.CPU if any(level is Level.CPU for level, _ in broken) else Level.WARN
    return Finding(op.index, op.name, op.version, level, tuple(dict.fromkeys(r for _, r in broken)))


def for_target(quantize: QuantizeConfig, target: Target | None) -> QuantizeConfig:
    """`quantize` with what `target` needs of a TFLite int8 model (`export --target`): the rule table's `export`."""
    rules = RULES[target] if target is not None else None
    return replace(quantize, **rules.export) if rules is not None else quantize
