"""The stream and consumer definitions of `contracts/nats/` and how a definition splits
into the consumers that exist on the server.

A consumer file is the JSON `nats consumer add --config` takes. Its `metadata` may split
it (the only way a definition becomes several consumers):

- `"tflow_split": "priority"`: one consumer per priority band, `<durable>_p01` ..
  `<durable>_p10`; the last token of every filter subject (`*` in the file) becomes the
  band (`contracts.subjects`). Workers drain the bands highest first (`runtime.jetstream.bands`).
- `"tflow_split": "partition"` with `"tflow_partitions": "N"`: one consumer per
  partition, `<durable>_0` .. `<durable>_<N-1>`; the second token (`*`) of every filter
  becomes the partition. With `max_ack_pending: 1` each, a job's facts (always in one
  partition) are handled one at a time, in order, while N jobs go in parallel.

A dead-letter consumer's filters name the durable whose advisories it follows
(`…MAX_DELIVERIES.<stream>.<durable>`): a split durable's filter becomes one per consumer.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from importlib.resources.abc import Traversable

from nats.js.api import ConsumerConfig, StreamConfig

from contracts import NATS_DEFINITIONS, PRIORITIES, band

#: `ConsumerConfig.metadata` keys this module reads (and writes into every split consumer).
SPLIT, PARTITIONS, GROUP, PRIORITY, PARTITION = ("tflow_split", "tflow_partitions", "tflow_group", "tflow_priority",
                                                 "tflow_partition")


@dataclass(frozen=True)
class Group:
    """One consumer definition and the consumers it is on the server: `members` are
    `(priority or partition or None, config)`, highest priority first for a banded group."""

    stream: str
    durable: str
    split: str | None
    base: ConsumerConfig
    members: tuple[tuple[int | None, ConsumerConfig], ...]

    @property
    def names(self) -> list[str]:
        """The durable names of the members."""
        return [str(c.durable_name) for _, c in self.members]


def _json_files(folder: Traversable) -> list[Traversable]:
    return sorted((p for p in folder.iterdir() if p.name.endswith(".json")), key=lambda p: p.name)


def load_stream_configs(root: Traversable = NATS_DEFINITIONS, replicas: int | None = None) -> list[StreamConfig]:
    """The stream configs in `root/streams/*.json` (the JSON `nats stream add --config`
    takes), with `num_replicas` set to `replicas` when given (R3 on a three-node cluster)."""
    configs = [StreamConfig.from_response(json.loads(p.read_text())) for p in _json_files(root / "streams")]
    return [dataclasses.replace(c, num_replicas=replicas) for c in configs] if replicas else configs


def _with(cfg: ConsumerConfig, name: str, position: int, token: str, meta: dict[str, str]) -> ConsumerConfig:
    def swap(subject: str) -> str:
        parts = subject.split(".")
        at = position if position >= 0 else len(parts) + position
        if parts[at] != "*":
            raise ValueError(f"consumer {cfg.durable_name}: token {position} of filter {subject!r} must be '*' "
                             f"to split it")
        parts[at] = token
        return ".".join(parts)
    filters = [swap(s) for s in (cfg.filter_subjects or [cfg.filter_subject or ""])]
    return dataclasses.replace(cfg, durable_name=name, name=None, filter_subject=None, filter_subjects=filters,
                               metadata={**(cfg.metadata or {}), **meta})


def split(stream: str, cfg: ConsumerConfig) -> Group:
    """The group one definition makes (see the module's rules). Raises ValueError on an
    unknown split or a filter that has no `*` where the split goes."""
    durable = str(cfg.durable_name)
    how = (cfg.metadata or {}).get(SPLIT)
    if how is None:
        return Group(stream, durable, None, cfg, ((None, cfg),))
    if how == "priority":
        members = tuple((p, _with(cfg, f"{durable}_{band(p)}", -1, band(p),
                                  {GROUP: durable, PRIORITY: str(p)})) for p in reversed(PRIORITIES))
    elif how == "partition":
        count = int((cfg.metadata or {}).get(PARTITIONS, "0"))
        if count < 1:
            raise ValueError(f"consumer {durable}: {PARTITIONS} must be a positive count")
        members = tuple((k, _with(cfg, f"{durable}_{k}", 1, str(k), {GROUP: durable, PARTITION: str(k)}))
                        for k in range(count))
    else:
        raise ValueError(f"consumer {durable}: unknown {SPLIT} {how!r}")
    return Group(stream, durable, how, cfg, members)


def _definitions(root: Traversable) -> list[tuple[str, ConsumerConfig]]:
    streams = sorted((d for d in (root / "consumers").iterdir() if d.is_dir()), key=lambda d: d.name)
    return [(d.name, ConsumerConfig.from_response(json.loads(p.read_text()))) for d in streams
            for p in _json_files(d)]


def _dead_letter_filters(cfg: ConsumerConfig, groups: dict[tuple[str, str], Group]) -> ConsumerConfig:
    """A DLQ consumer with every filter naming a split durable made one per member."""
    out: list[str] = []
    for subject in cfg.filter_subjects or [cfg.filter_subject or ""]:
        *head, stream, durable = subject.split(".")
        group = groups.get((stream, durable))
        out += [".".join([*head, stream, n]) for n in group.names] if group and group.split else [subject]
    return dataclasses.replace(cfg, filter_subject=None, filter_subjects=out)


def consumer_groups(root: Traversable = NATS_DEFINITIONS) -> list[Group]:
    """Every consumer definition of `root/consumers/<STREAM>/*.json` as its group."""
    defs = _definitions(root)
    groups = {(s, str(c.durable_name)): split(s, c) for s, c in defs}
    return [Group(g.stream, g.durable, g.split, g.base,
                  tuple((k, _dead_letter_filters(c, groups)) for k, c in g.members)) if g.stream == "DLQ" else g
            for g in groups.values()]


def load_consumer_configs(root: Traversable = NATS_DEFINITIONS) -> list[tuple[str, ConsumerConfig]]:
    """`(stream, config)` of every consumer that exists on the server (split groups made
    into their members)."""
    return [(g.stream, c) for g in consumer_groups(root) for _, c in g.members]


def consumer_group(stream: str, durable: str, root: Traversable = NATS_DEFINITIONS) -> Group:
    """The group of definition `durable` on `stream`. Raises KeyError if absent."""
    for g in consumer_groups(root):
        if g.stream == stream and g.durable == durable:
            return g
    raise KeyError(f"no consumer definition {stream}/{durable} under {root}")


def consumer_config(stream: str, durable: str, root: Traversable = NATS_DEFINITIONS) -> ConsumerConfig:
    """The config of consumer `durable` on `stream` as it exists on the server (a member of
    a split group by its own name). Raises KeyError if absent."""
    for s, cfg in load_consumer_configs(root):
        if s == stream and cfg.durable_name == durable:
            return cfg
    raise KeyError(f"no consumer {stream}/{durable} under {root}")
