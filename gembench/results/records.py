# ruff: noqa: RUF009  (``doc(...)`` returns a dataclasses.field carrying the field's doc)
"""Typed results records (schema version 2): what the engine writes and reports read.

One results file (``results.jsonl``) holds a :class:`RunRecord` on its first line and one
:class:`CaseRecord` per further line. Times are seconds per call. Every field is documented
here; ``docs/results-schema.md`` is generated from these types
(:func:`gembench.results.schema_doc.write_schema_doc`).
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from gembench.results.model import Record
from gembench.spec.cases import Case
from gembench.spec.fields import REQUIRED, doc
from gembench.stats import per_round, quartiles

SCHEMA_VERSION = 2

Status = Literal["ok", "failed", "skipped"]
CacheState = Literal["hot", "cold", "mixed"]


@dataclass(kw_only=True)
class RatioStats(Record):
    """Median and quartiles of per-round ratios (two callables timed in the same rounds)."""

    median: float = doc("median of the per-round ratios", REQUIRED, unit="x")
    q1: float | None = doc("first quartile of the per-round ratios", unit="x")
    q3: float | None = doc("third quartile of the per-round ratios", unit="x")
    count: int | None = doc("rounds")

    @classmethod
    def of(cls, ratios: Any) -> RatioStats:
        """Statistics of per-round ratio samples."""
        q1, med, q3 = quartiles(ratios)
        return cls(median=med, q1=q1, q3=q3, count=int(np.size(ratios)))

    @classmethod
    def per_round(cls, num: list[float], den: list[float]) -> RatioStats:
        """Statistics of ``num[i] / den[i]`` over the rounds both were timed in."""
        return cls.of(per_round(num, den))

    @classmethod
    def identity(cls, count: int) -> RatioStats:
        """Ratio 1 by definition (a ReLU case against itself)."""
        return cls(median=1.0, q1=1.0, q3=1.0, count=count)


@dataclass(kw_only=True)
class Stats(Record):
    """Statistics of one timed callable: seconds per call over its samples."""

    median: float = doc("median of the samples", REQUIRED, metric="median", unit="s")
    q1: float | None = doc("first quartile", unit="s")
    q3: float | None = doc("third quartile", unit="s")
    iqr: float | None = doc("q3 - q1", metric="iqr", unit="s")
    min: float | None = doc("fastest sample", metric="min", unit="s")
    mean: float | None = doc("mean of the samples", metric="mean", unit="s")
    count: int | None = doc("number of samples", metric="samples", unit="count")
    number: int | None = doc("calls per sample (a sample is the mean of `number` calls)",
                             metric="calls_per_sample", unit="count")
    samples: list[float] | None = doc("every raw sample, in round order (absent where a v1 "
                                      "file left them out)")

    @classmethod
    def from_samples(cls, samples: list[float], number: int | None = 1, **more: Any) -> Any:
        """The one function that turns raw samples into statistics (``more``: subclass
        fields)."""
        a = np.asarray(samples, dtype=np.float64)
        q1, med, q3 = quartiles(a)
        return cls(median=med, q1=q1, q3=q3, iqr=q3 - q1, min=float(a.min()),
                   mean=float(a.mean()), count=int(a.size), number=number,
                   samples=[float(s) for s in a], **more)

    def stats(self) -> Stats:
        """Only the statistics (a subclass's extra fields dropped)."""
        return Stats(median=self.median, q1=self.q1, q3=self.q3, iqr=self.iqr, min=self.min,
                     mean=self.mean, count=self.count, number=self.number,
                     samples=self.samples)


@dataclass(kw_only=True)
class TimingRecord(Stats):
    """The case's own statistics (the fields of Stats) and what was timed with it."""

    clock: str | None = doc("`perf_counter` (CPU, around a synchronised block) or "
                            "`cuda_events`")
    warmup: int | None = doc("warm-up calls per callable before sampling")
    stop_reason: str | None = doc("`budget`, `precision` or `max_samples`")
    mode: str | None = doc("`as_called`: the output is allocated by the call")
    elapsed_s: float | None = doc("wall time of the sampling rounds")
    relu: Stats | None = doc("the ReLU of the same backend, interleaved (a ReLU case: its own "
                             "statistics)", metrics={"median": "relu_median"})
    ratio_to_relu: RatioStats | None = doc("per-round case / same-backend ReLU", metrics={
        "median": "ratio_to_relu", "q1": "ratio_to_relu_q1", "q3": "ratio_to_relu_q3"})
    anchor: Stats | None = doc("the anchor ReLU (torch eager `torch.relu`, same device, dtype, "
                               "shape, pass and cache state), interleaved; elementwise only")
    ratio_to_anchor: RatioStats | None = doc("per-round case / anchor ReLU")
    copy: Stats | None = doc("the copy ceiling (`dst.copy_(src)`, same size, same cache state), "
                             "interleaved", metrics={"median": "copy_median"})
    ratio_to_copy: RatioStats | None = doc("per-round case / copy",
                                           metrics={"median": "ratio_to_copy"})
    prealloc: Stats | None = doc("forward into a preallocated output (backends that support "
                                 "it)", metrics={"median": "prealloc_median"})
    flush_bytes: int | None = doc("cold cache: bytes written before every call to evict the "
                                  "caches")
    flush_source: str | None = doc("cold cache: where the flushed cache's size came from")
    cuda_graphs: str | None = doc("what CUDA-graph replay did (`timing.cuda_graphs`)")
    derived_from: str | None = doc("how the statistics were derived when not timed directly "
                                   "(`forward_backward - forward`)")
    group_id: str | None = doc("the comparison group's timing: every case with this id was "
                               "timed in the same rounds, sample i of each in round i, so any "
                               "two of them have a direct per-round ratio")
    group_callables: int | None = doc("callables timed in each round of the group (its cases "
                                      "and the baselines they share)")
    order: str | None = doc("`shuffled`: each round visits the callables in a fresh random "
                            "order; `rotating`: the order rotates by one each round")


@dataclass(kw_only=True)
class Memory(Record):
    """Bytes saved for backward and peak memory of a pass."""

    input_bytes: int | None = doc("bytes of the activation's input tensor")
    saved_bytes: int | None = doc("bytes autograd saves for backward (unique storages)",
                                  metric="saved_bytes", unit="B")
    saved_bytes_input_alias: int | None = doc("part of saved_bytes that is the input itself",
                                              metric="saved_bytes_input_alias", unit="B")
    saved_bytes_output_alias: int | None = doc("part of saved_bytes that is the output itself",
                                               metric="saved_bytes_output_alias", unit="B")
    saved_tensors: int | None = doc("number of unique saved storages")
    saved_ratio: float | None = doc("saved_bytes / input_bytes",
                                    metric="saved_ratio", unit="x input")
    saved_source: str | None = doc("`measured (...)` or `declared: ...` by the backend")
    peak_bytes: int | None = doc("peak memory one pass adds", metric="peak_bytes", unit="B")
    peak_source: str | None = doc("how peak_bytes was measured")
    relu_saved_bytes: int | None = doc("block contexts: saved bytes of the ReLU block")
    saved_vs_relu_block: float | None = doc("block contexts: saved_bytes / relu_saved_bytes")
    relu_peak_bytes: int | None = doc("block contexts: peak bytes of the ReLU block")
    peak_vs_relu_block: float | None = doc("block contexts: peak_bytes / relu_peak_bytes")


@dataclass(kw_only=True)
class Recheck(Record):
    """The timed callable's output checked again after timing."""

    eps: float | None = doc("error of the output after timing, in eps (NaN: not finite)")
    tol: float | None = doc("tolerance it was held to")
    ok: bool = doc("whether it passed", False)
    what: str | None = doc("which output was checked")


@dataclass(kw_only=True)
class Error(Record):
    """Error against the float64 reference on the case's own inputs, in units of eps."""

    elements: int | None = doc("elements checked (the first of the input)")
    forward_eps: float | None = doc("max forward error", metric="forward_error", unit="eps")
    backward_eps: float | None = doc("max backward error", metric="backward_error", unit="eps")
    forward_tol: float | None = doc("forward tolerance of the dtype")
    backward_tol: float | None = doc("backward tolerance of the dtype")
    recheck: Recheck | None = doc("post-timing recheck of the timed callable's output")


@dataclass(kw_only=True)
class Derived(Record):
    """Figures computed from the timing."""

    bytes_moved: int | None = doc("the spec's minimal traffic for the pass")
    bandwidth: float | None = doc("bytes_moved / median, B/s", metric="bandwidth", unit="B/s")
    copy_bandwidth: float | None = doc("2 x size / copy median, B/s",
                                       metric="copy_bandwidth", unit="B/s")
    bandwidth_fraction: float | None = doc("bandwidth / copy_bandwidth",
                                           metric="bandwidth_fraction", unit="fraction")
    elements_per_second: float | None = doc("elements / median",
                                            metric="elements_per_second", unit="1/s")
    first_call: float | None = doc("seconds of the first call", metric="first_call", unit="s")
    build_time: float | None = doc("seconds to build the kernel")
    compile_time: float | None = doc("compiling backends: first_call - median",
                                     metric="compile_time", unit="s")


@dataclass(kw_only=True)
class Block(Record):
    """Block contexts: the block's time and the activation's share of it."""

    median: float | None = doc("median of the whole block", metric="block_median", unit="s")
    activation: Stats | None = doc("the activation alone at activation_shape, interleaved")
    activation_share: float | None = doc("median of per-round activation / block",
                                         metric="activation_share", unit="fraction")
    activation_share_q: RatioStats | None = doc("quartiles of the per-round activation / block")
    activation_shape: list[int] | None = doc("shape of the tensor the activation sees")


@dataclass(kw_only=True)
class Busy(Record):
    """What else used the machine while the case was timed."""

    other_cpu_s: float | None = doc("CPU seconds used by other processes while timed "
                                    "(/proc/stat busy minus this worker's utime+stime)")
    wall_s: float | None = doc("wall seconds of the timed rounds")
    other_cores: float | None = doc("other_cpu_s / wall_s: cores' worth of other work")
    threshold_cores: float | None = doc("other_cores above this marks the machine busy")
    load_avg: list[float] | None = doc("1, 5, 15-minute load average after timing")
    retries: int = doc("re-timings made because the machine was busy (`timing.retry_busy`)",
                       0)
    gpu: dict[str, Any] | None = doc("CUDA: NVML SM/memory clocks and throttle reasons")
    source: str | None = doc("how the figures were read")
    visits: int | None = doc("timed visits the figures add up (each visit reads the tick "
                             "counters twice, so their rounding adds up over visits)")


#: how a field of :class:`~gembench.spec.cases.Case` is typed in a results file, where that
#: differs from the Case (JSON has no tuples; version-1 files have a ``mixed`` cache state)
_RECORD_TYPES: dict[str, Any] = {"shape": list[int], "cache": CacheState, "preset": str | None}
#: what an identity field holds in a record that lacks it (a damaged or hand-written record)
_RECORD_DEFAULTS: dict[str, Any] = {"backend": "", "activation": "", "preset": None}
#: identity fields derived from the Case's, in the record after the field named
_DERIVED = {
    "context": [("case_id", str, doc("`context/backend/label/dtype/device/shape/pass/tTHREADS/"
                                     "allocator/cache`", ""))],
    "params": [("label", str, doc("activation with its parameters, e.g. `gem(N=2)`", ""))],
    "shape": [("numel", int, doc("elements of shape", 0, minimum=0))],
}


def _identity_fields() -> list[tuple[str, Any, Any]]:
    """``kind``, then every documented field of :class:`Case` (as a record types it), with the
    derived ones after the field they come from."""
    hints = typing.get_type_hints(Case)
    out: list[tuple[str, Any, Any]] = [("kind", str, doc("`case`", "case"))]
    for f in dataclasses.fields(Case):
        default = _RECORD_DEFAULTS.get(f.name, f.default)
        text, key = f.metadata["doc"], f.metadata.get("key")
        factory = list if f.name == "shape" else f.default_factory
        more = {k: v for k, v in f.metadata.items() if k not in ("doc", "key")}
        field_ = (doc(text, default, key=key, **more) if factory is dataclasses.MISSING
                  else doc(text, factory=factory, key=key, **more))
        out.append((f.name, _RECORD_TYPES.get(f.name, hints[f.name]), field_))
        out += _DERIVED.get(f.name, [])
    return out


def _case(self: Any) -> Case:
    """The :class:`Case` this record measured."""
    return Case(**{f.name: getattr(self, f.name) for f in dataclasses.fields(Case)
                   if f.name not in ("shape", "preset")},
                shape=tuple(self.shape), preset=self.preset or "")


#: The fields that identify a case: generated from :class:`~gembench.spec.cases.Case` (one
#: definition of a case's identity, its documentation included); ``record.case`` is the Case.
CaseIdentity = dataclasses.make_dataclass(
    "CaseIdentity", _identity_fields(), bases=(Record,), kw_only=True,
    namespace={"__doc__": "The fields that identify a case (generated from Case; the case_id "
                          "is built from them).", "__module__": __name__,
               "case": property(_case)})


@dataclass(kw_only=True)
class Outcome(Record):
    """What measuring a case produced (the worker's reply)."""

    status: Status = doc("`ok`, `failed` or `skipped`", "ok")
    reason: str | None = doc("why it failed or was skipped")
    where: str | None = doc("failed by an exception: file:line it was raised at")
    timing: TimingRecord | None = doc("timing statistics (see TimingRecord)", figures=True)
    memory: Memory | None = doc("memory figures", figures=True)
    error: Error | None = doc("error against the reference", figures=True)
    derived: Derived | None = doc("figures derived from the timing", figures=True)
    block: Block | None = doc("block contexts", figures=True)
    machine_busy: bool | None = doc("other processes used the CPU while timed (see busy)")
    anomalies: list[str] | None = doc("what makes the figure suspect (`code: explanation`): a "
                                      "baseline slower than the case, a ratio below 0.5x ReLU, "
                                      "bimodal samples, drift between the first and last "
                                      "rounds; reports never pick such a case as the best")
    busy: Busy | None = doc("figures on other work while timed")
    backend_info: dict[str, Any] | None = doc("the kernel's own facts (ONNX Runtime nodes, "
                                              "Triton block size, compile graphs)")
    pass_note: str | None = doc("how the pass was timed when not directly")
    trace: str | None = doc("with --profile: path of the torch.profiler Chrome trace")
    duration_s: float | None = doc("seconds measuring the case took")


@dataclass(kw_only=True)
class CaseRecord(Outcome, CaseIdentity):
    """One line per case: identity, outcome and when it started."""

    started: str | None = doc("UTC ISO time the case started")
    machine_key: str | None = doc("the machine (and commit) that measured it, 12 hex digits "
                                  "(set by `gembench merge` and the Ray executor; cases of "
                                  "different machines are never compared)")
    machine: dict[str, Any] | None = doc("that machine's fingerprint (cpu, cores, gpu, "
                                         "gpu_driver, commit), where the record carries it")
    run_id: str | None = doc("the run it came from, in a merged file")
    niceness: int | None = doc("the worker's niceness (Ray executor)")

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass(kw_only=True)
class RunRecord(Record):
    """Line 1 of a results file."""

    kind: str = doc("`run`", "run")
    schema: int = doc("schema version (2; version-1 files are migrated on load)",
                      SCHEMA_VERSION)
    migrated_from: int | None = doc("the schema version of the file, when it was migrated on "
                                    "load")
    gembench: str | None = doc("gembench version")
    started: str | None = doc("UTC ISO time")
    suite: str | None = doc("suite name")
    suite_path: str | None = doc("suite file")
    suite_sha256: str | None = doc("suite file hash (`--resume` refuses another)")
    description: str | None = doc("suite description")
    timing_policy: dict[str, Any] = doc("the suite's timing policy (gembench.spec.policy."
                                        "Timing fields)", factory=dict)
    seed: int = doc("input seed", 0)
    allocator_env: dict[str, dict[str, str]] | None = doc(
        "per allocator setting, the MALLOC_* variables its workers were started with")
    likeness: bool | None = doc("the suite asked for the ReLU-likeness table in its report")
    executor: dict[str, Any] | None = doc("how the cases were run: name (`local`, `ray`), "
                                          "address, accelerator_type, retries")
    shard: str | None = doc("`I/N` when the run measured one shard of the suite")
    run_id: str | None = doc("in a merged file: this run's id (its cases carry it)")
    machine_key: str | None = doc("in a merged file: the machine key of this run")
    machine: dict[str, Any] | None = doc("in a merged file: the machine fingerprint")
    merged_from: str | None = doc("in a merged file: the file this run record came from")
    end_mark: bool | None = doc("the file's writer ends it with an end mark when complete "
                                "(files without this key are not judged complete or not)")
    source_schema: int | None = doc("in a merged file: the schema version of a source run "
                                    "merged with `--force` although this gembench cannot read "
                                    "it (every report says so)")
    incomplete: str | None = doc("in a merged file: why the source run was incomplete when "
                                 "merged (every report says so)")
    read_notes: list[str] | None = doc("never written: set when the file is read, what every "
                                       "report must say about it (incomplete, forced schema)")
    environment: dict[str, Any] = doc("cpu (py-cpuinfo without clocks), cores, os, python, "
                                      "packages, gpu, git, llc (size and source), hostname",
                                      factory=dict)


__all__ = ["SCHEMA_VERSION", "Block", "Busy", "CaseIdentity", "CaseRecord", "Derived", "Error",
           "Memory", "Outcome", "RatioStats", "Recheck", "RunRecord", "Stats", "TimingRecord"]
