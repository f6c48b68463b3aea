"""Decodings: how the channels' recorded activity becomes the task's action.

**The protocol.** A decoding is any object with

- `action_space`: the task's action space, which the decoded actions lie in (`LivnGym`
  checks that it equals the task's);
- `__call__(response) -> action`: `response` is the `ChannelResponse` of one step's window.

A plain function with an `action_space` attribute qualifies; `Decoding` is a convenient base.

Shipped decodings:

- `FirstSpikeDecoding` (Box): latency of the first spike on the most active channel -> action range.
- `ChannelRateDecoding` (Box): firing rates of chosen channels -> action vector by a linear map.
- `ChannelVoteDecoding` (Discrete): the most active of several channel groups picks the action.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from gymnasium import spaces

from livn.errors import InvalidArgumentError, describe

from .encodings import check_channels as _check_channels


@dataclass(frozen=True)
class ChannelResponse:
    """What the culture did in one step's window, as the electrodes saw it.

    - `it`, `t`: every spike of the culture, gids and times (ms from the window start).
    - `channel_gids`, `channel_times`: per recording channel id, the gids and times (ms) of
      the spikes it recorded (`Env.channel_recording`).
    - `channel_ids`: the MEA's channel ids, the order of `channel_counts` and `channel_rates`.
    - `duration`: the window, ms.
    """

    it: np.ndarray
    t: np.ndarray
    channel_gids: dict
    channel_times: dict
    channel_ids: tuple
    duration: float

    @property
    def channel_counts(self) -> np.ndarray:
        """Spikes recorded per channel in the window, in `channel_ids` order."""
        return np.array([len(self.channel_times[c]) for c in self.channel_ids], dtype=np.int64)

    @property
    def channel_rates(self) -> np.ndarray:
        """Spike rate per channel over the window, Hz, in `channel_ids` order."""
        return self.channel_counts / (self.duration / 1000.0)

    def first_spike(self, channel: int) -> float:
        """Time (ms from the window start) of the channel's first recorded spike; inf if it saw none."""
        times = self.channel_times[channel]
        return float(np.min(times)) if len(times) else math.inf


class Decoding:
    """Base class of decodings; subclasses set `action_space` and implement `__call__`."""

    action_space: spaces.Space

    def __call__(self, response: ChannelResponse):
        raise NotImplementedError


def _check_response(response) -> ChannelResponse:
    if not isinstance(response, ChannelResponse):
        raise InvalidArgumentError(f"response must be a ChannelResponse; got {describe(response)}")
    return response


def _check_box(action_space) -> spaces.Box:
    if not isinstance(action_space, spaces.Box) or not (
        np.all(np.isfinite(action_space.low)) and np.all(np.isfinite(action_space.high))
    ):
        raise InvalidArgumentError(f"action_space must be a bounded gymnasium Box; got {describe(action_space)}")
    return action_space


def _channels_seen(response: ChannelResponse, channels) -> tuple:
    channels = response.channel_ids if channels is None else channels
    missing = [c for c in channels if c not in response.channel_times]
    if missing:
        raise InvalidArgumentError(f"channels {missing} are not on this MEA; its channels: {list(response.channel_ids)}")
    return channels


def _most_active(response: ChannelResponse, groups) -> int | None:
    """Index of the group with most spikes; ties go to the earliest first spike, then the lower index.

    None if every group is silent.
    """
    counts = [sum(len(response.channel_times[c]) for c in group) for group in groups]
    if max(counts) == 0:
        return None
    firsts = [min(response.first_spike(c) for c in group) for group in groups]
    return min(range(len(groups)), key=lambda g: (-counts[g], firsts[g], g))


class FirstSpikeDecoding(Decoding):
    """Latency code: the first spike on the most active channel sets the action.

    The most active of `channels` (most spikes; ties go to the earlier first spike) is
    found; its first spike at `t` ms in a window of `duration` ms gives
    `high - (t / duration) * (high - low)`: an immediate response gives `high`, one at
    the very end `low`. A window in which no chosen channel spiked gives `silent`.

    **Arguments**

    - `action_space`: the task's `Box` with a single element (e.g. Pendulum's torque).
    - `channels`: channel ids to consider (default: every MEA channel).
    - `silent`: the action for a silent window (default: the middle of the range).

    **Action space**: `action_space`.
    """

    def __init__(self, action_space, channels=None, silent: float | None = None):
        box = _check_box(action_space)
        if int(np.prod(box.shape)) != 1:
            raise InvalidArgumentError(f"action_space must have a single element; got shape {box.shape}")
        self.action_space = box
        self.channels = None if channels is None else _check_channels(channels)
        low, high = float(box.low.ravel()[0]), float(box.high.ravel()[0])
        self.silent = (low + high) / 2.0 if silent is None else float(silent)
        if not low <= self.silent <= high:
            raise InvalidArgumentError(f"silent must lie in [{low}, {high}]; got {silent}")

    def __call__(self, response: ChannelResponse) -> np.ndarray:
        response = _check_response(response)
        channels = _channels_seen(response, self.channels)
        winner = _most_active(response, [(c,) for c in channels])
        low, high = float(self.action_space.low.ravel()[0]), float(self.action_space.high.ravel()[0])
        if winner is None:
            value = self.silent
        else:
            latency = min(response.first_spike(channels[winner]) / response.duration, 1.0)
            value = high - latency * (high - low)
        return np.full(self.action_space.shape, value, dtype=self.action_space.dtype)

    def __repr__(self) -> str:
        return f"FirstSpikeDecoding({self.action_space}, channels={self.channels}, silent={self.silent})"


class ChannelRateDecoding(Decoding):
    """Rate code: `action = clip(weights @ rates + bias, low, high)`.

    `rates` are the spike rates (Hz) recorded on `channels` over the window.

    **Arguments**

    - `action_space`: the task's bounded `Box`; actions are flattened to `d` elements.
    - `channels`: k channel ids whose rates are read.
    - `weights`: `[d, k]`, action units per Hz.
    - `bias`: `[d]` action at zero rates (default: the middle of the range).

    `ChannelRateDecoding.push_pull(...)` builds the weights of opposing channel groups.

    **Action space**: `action_space`.
    """

    def __init__(self, action_space, channels, weights, bias=None):
        box = _check_box(action_space)
        self.action_space = box
        self.channels = _check_channels(channels)
        d, k = int(np.prod(box.shape)), len(self.channels)
        weights = np.asarray(weights, dtype=float)
        if weights.shape != (d, k) or not np.all(np.isfinite(weights)):
            raise InvalidArgumentError(
                f"weights must be finite, shape [{d}, {k}] (action elements x channels), action units per Hz; "
                f"got {describe(weights)}"
            )
        middle = (box.low.astype(float).ravel() + box.high.astype(float).ravel()) / 2.0
        bias = middle if bias is None else np.asarray(bias, dtype=float).ravel()
        if bias.shape != (d,) or not np.all(np.isfinite(bias)):
            raise InvalidArgumentError(f"bias must be {d} finite numbers (action units); got {describe(bias)}")
        self.weights = weights
        self.bias = bias

    @classmethod
    def push_pull(cls, action_space, positive, negative, full_scale_rate: float = 100.0) -> "ChannelRateDecoding":
        """Opposing channel groups: each action element is the middle of its range plus
        `(mean rate of positive - mean rate of negative) / full_scale_rate` times half the range.

        **Arguments**

        - `action_space`: the task's bounded `Box`.
        - `positive`, `negative`: channel ids per action element (a list of groups, or one group
          for a single-element action); the positive group pushes the action up, the negative down.
        - `full_scale_rate`: rate difference (Hz) that reaches the end of the range.
        """
        box = _check_box(action_space)
        d = int(np.prod(box.shape))
        if d == 1 and all(isinstance(c, (int, np.integer)) for c in list(positive) + list(negative)):
            positive, negative = [positive], [negative]
        if len(positive) != d or len(negative) != d:
            raise InvalidArgumentError(f"positive and negative must hold {d} channel groups, one per action element")
        if isinstance(full_scale_rate, bool) or not isinstance(full_scale_rate, (int, float)) or not (
            math.isfinite(full_scale_rate) and full_scale_rate > 0
        ):
            raise InvalidArgumentError(f"full_scale_rate must be a positive number of Hz; got {describe(full_scale_rate)}")
        groups = [(_check_channels(p, "positive"), _check_channels(n, "negative")) for p, n in zip(positive, negative)]
        channels = sorted({c for p, n in groups for c in p + n})
        half = (box.high.astype(float).ravel() - box.low.astype(float).ravel()) / 2.0
        weights = np.zeros((d, len(channels)))
        for j, (p, n) in enumerate(groups):
            for c in p:
                weights[j, channels.index(c)] += half[j] / full_scale_rate / len(p)
            for c in n:
                weights[j, channels.index(c)] -= half[j] / full_scale_rate / len(n)
        return cls(box, channels, weights)

    def __call__(self, response: ChannelResponse) -> np.ndarray:
        response = _check_response(response)
        channels = _channels_seen(response, self.channels)
        rates = np.array([len(response.channel_times[c]) for c in channels]) / (response.duration / 1000.0)
        action = self.weights @ rates + self.bias
        low, high = self.action_space.low.ravel(), self.action_space.high.ravel()
        return np.clip(action, low, high).reshape(self.action_space.shape).astype(self.action_space.dtype)

    def __repr__(self) -> str:
        return f"ChannelRateDecoding({self.action_space}, channels={self.channels})"


class ChannelVoteDecoding(Decoding):
    """Discrete actions: the most active of n channel groups names the action.

    Group i's spikes count as votes for action i (`action_space.start + i`); ties go to the
    group whose first spike came earliest, then to the lower index. A silent window gives `silent`.

    **Arguments**

    - `action_space`: the task's `Discrete(n)` (e.g. CartPole's push left / push right).
    - `groups`: n sequences of channel ids, one per action.
    - `silent`: the action for a silent window (default: the first, `action_space.start`).

    **Action space**: `action_space`.
    """

    def __init__(self, action_space, groups, silent: int | None = None):
        if not isinstance(action_space, spaces.Discrete):
            raise InvalidArgumentError(f"action_space must be a gymnasium Discrete space; got {describe(action_space)}")
        groups = [_check_channels(g, "groups") for g in groups]
        if len(groups) != action_space.n:
            raise InvalidArgumentError(f"groups must hold {action_space.n} channel groups, one per action; got {len(groups)}")
        self.action_space = action_space
        self.groups = groups
        start = int(action_space.start)
        self.silent = start if silent is None else int(silent)
        if not action_space.contains(np.int64(self.silent)):
            raise InvalidArgumentError(f"silent must be an action of {action_space}; got {silent}")

    def __call__(self, response: ChannelResponse) -> np.int64:
        response = _check_response(response)
        for group in self.groups:
            _channels_seen(response, group)
        winner = _most_active(response, self.groups)
        return np.int64(self.silent if winner is None else int(self.action_space.start) + winner)

    def __repr__(self) -> str:
        return f"ChannelVoteDecoding({self.action_space}, groups={self.groups})"
