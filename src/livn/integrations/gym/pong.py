"""Pong played by a simulated culture, after DishBrain (Kagan et al. 2022, Neuron 110:3952).

```python
import gymnasium as gym
import livn.integrations.gym                      # registers livn/Pong-S2-v0

game = gym.make("livn/Pong-S2-v0", feedback="full", plasticity=True)
observation, info = game.reset(seed=0)
observation, reward, terminated, truncated, info = game.step(0)    # one game tick; the culture moves the paddle
summary = game.unwrapped.play(60_000)                               # 60 s of play, the culture alone
```

**The game.** A point ball moves in the unit box [0, 1] x [0, 1] (box units; x across,
y along the paddle's wall) at `ball_speed` box widths per second across and at most that
along; it bounces off the walls y = 0, y = 1 and x = 1. The paddle, `paddle_length` long,
slides along the wall x = 0. A ball reaching x = 0 within the paddle's extent is a **hit**
(it bounces, its y velocity perturbed at random by up to +-half the speed); elsewhere a
**miss**: the rally ends and a new ball starts at x = 0.5, y uniform in [0.1, 0.9], moving
toward the paddle at a random angle of up to 45 degrees. A **rally** is the run of hits
between two misses; its length is its number of hits. The game advances in ticks of
`tick` ms of culture time (20 by default); one `step` is one tick.

**Sensory (place + rate coding, as in DishBrain).** `sensory_channels` (default the eight
electrodes of rows 0-1 of the 4 x 4 array, ordered by x: 0, 4, 1, 5, 2, 6, 3, 7) encode the
ball: the ball's y position picks one of them (place; y in [k/8, (k+1)/8) -> the k-th), and
that electrode is pulsed at a rate that grows linearly from `rate_range[0]` Hz (4; ball at
the far wall x = 1) to `rate_range[1]` Hz (40; ball at the paddle, x = 0): rate coding. Pulses
are 1 ms (one stimulus row) of `sensory_amplitude` uA; their timing follows a phase
accumulator that carries over ticks, so the rate is exact also when it is below one pulse per tick.

**Motor.** `motor_channels` = (up region, down region), default (8, 9, 14, 15) and
(10, 11, 12, 13): the remaining rows 2-3, split into four quadrants of two electrodes with
"up" and "down" on the diagonals, so that neither region sits only on one side of the
sensory rows (DishBrain counterbalanced its motor quadrants likewise). Each tick the paddle
moves by `motor_gain * (spikes recorded in the up region - spikes in the down region)`
box heights, clipped to +-`max_paddle_step`, and stays inside the box (`decode_motor`).

**Feedback** (`feedback=`):

- `"full"` (DishBrain's "stimulus" condition): on a hit, predictable stimulation, `hit_feedback`
  (default 100 ms of 100 Hz pulses on all sensory electrodes at once, `sensory_amplitude` uA),
  in place of the sensory pulses while it lasts; the game goes on. On a miss, unpredictable
  stimulation, `miss_feedback` (default 4 s at 5 Hz on average: round(rate x duration) pulses of
  `miss_amplitude` uA, each at a random ms and on a random sensory electrode); the game is paused
  (ball and paddle frozen, no sensory pulses) while it lasts.
- `"silent"`: no stimulation on a hit; on a miss the game pauses for the same time as the miss
  feedback, with no stimulation at all (DishBrain's "silent" control).
- `"none"`: no feedback stimulation and no pause; after a miss the next ball starts at once
  (DishBrain's "no-feedback" control).

Amplitudes are electrode currents (uA). DishBrain used 75 mV for sensory and predictable
pulses and 150 mV for unpredictable ones; the defaults keep that ratio: 10 uA and 20 uA
(a 1 ms, 10 uA pulse evokes a few spikes among the ~10 neurons an S2 electrode records).

**Who moves the paddle** (`control=`): `"culture"` (default; the action space is
`Discrete(1)`, a no-op, and the culture plays by itself), `"agent"` (`Discrete(3)`: 0 stay,
1 up, 2 down by `max_paddle_step`; the culture is still stimulated and recorded and its
decoded move is in `info`), or `"random"` (a uniform random move in +-`max_paddle_step`
each tick: a chance baseline; the culture still runs).

**Plasticity**: `plasticity=True` (default) turns on the model's default rules
(`Env.enable_plasticity()`: additive STDP on EXC->EXC and EXC->INH), `False` leaves the
weights fixed, anything else is passed to `Env.enable_plasticity(params)` as rules.

**Observation**: float32 `[ball_x, ball_y, ball_vx, ball_vy, paddle_y, paused]`; positions in
box units, velocities in box units per second, `paused` 1 during a miss's pause.
**Reward**: +1 on a hit, -1 on a miss, else 0. The game never ends by itself; `max_steps`
truncates an episode after that many ticks.

**info** of a step: `hits`, `misses` (this episode), `rally_hits` (hits in the rally under way),
`rally_lengths` (tuple: hits of every finished rally), `event` ("hit", "miss" or None),
`paused`, `motor_counts` (up, down spikes this tick), `paddle_move` (box heights),
`sensory_channel`, `sensory_rate` (Hz; None while paused or during feedback) and `t`
(game time at the end of the tick: ms of culture time since the last reset).

**Reset**: the culture has memory and learns, so resets say what they keep.
`reset(seed=s)` starts a reproducible session: the culture is cleared to t = 0 (`Env.clear`)
and, with plasticity, its synaptic weights are restored to those it was built with; the
game's randomness is seeded with `s` (the culture's own noise comes from the constructor's
`seed`). `reset()` without a seed starts a new game on the same culture, which keeps its
state and what it learned. `options={"clear_culture": bool, "restore_weights": bool}`
overrides either choice.

**Fast play**: `play(duration)` advances the game `duration / tick` ticks with the culture
in control, in closed loop through `Env.stream` (one brian2 run per 10 s chunk instead of one
per tick), exactly as that many `step(0)` calls would (same spikes, same game), and
returns a summary. The record of events is `events` (`(t, "hit" | "miss", rally hits)`, t the
game time in ms since the last reset) and `trace`: `(t, ball y - paddle y before the move, move)`
of every played (not paused) tick, box heights; a move of the offset's sign follows the ball.

Units: time ms, electrode current uA, rates Hz, positions in box units.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from livn.backends import backend_name
from livn.env import Env
from livn.errors import InvalidArgumentError, NotInitializedError, RecordingError, UnknownNameError, describe
from livn.io import MEA
from livn.models.plasticity import InhibitorySTDP, STDP
from livn.system import predefined

#: Feedback modes: DishBrain's "stimulus" (here "full"), "silent" and "no-feedback" conditions.
FEEDBACK_MODES = ("full", "silent", "none")

#: Who moves the paddle.
CONTROLS = ("culture", "agent", "random")

#: Default sensory electrodes (rows 0-1 of the 4 x 4 array), in place-code order (by x, then y).
SENSORY_CHANNELS = (0, 4, 1, 5, 2, 6, 3, 7)

#: Default motor regions (up, down): rows 2-3 in quadrants, up and down on the diagonals.
MOTOR_CHANNELS = ((8, 9, 14, 15), (10, 11, 12, 13))

#: Game events.
HIT, MISS = "hit", "miss"

#: Longest single `Env.stream` call of `play`, ms (bounds the memory of one stream's records).
PLAY_CHUNK = 10_000.0


def _number(value, name: str, positive: bool = True, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(value) or (positive and (value < 0 or (value == 0 and not allow_zero))):
        bound = " >= 0" if allow_zero else " > 0" if positive else ""
        raise InvalidArgumentError(f"{name} must be a finite number{bound}; got {describe(value)}")
    return float(value)


def _whole_ms(value, name: str) -> int:
    value = _number(value, name)
    if value < 1 or abs(value - round(value)) > 1e-9:
        raise InvalidArgumentError(f"{name} must be a whole number of ms >= 1; got {describe(value)}")
    return int(round(value))


@dataclass(frozen=True)
class Feedback:
    """A train of 1 ms pulses used as feedback: `duration` ms, `rate` Hz, `amplitude` uA (>= 0)."""

    duration: float
    rate: float
    amplitude: float

    def __post_init__(self):
        _whole_ms(self.duration, "feedback duration")
        _number(self.rate, "feedback rate (Hz)")
        if self.rate > 1000.0:
            raise InvalidArgumentError(f"feedback rate must be at most 1000 Hz (1 ms pulses); got {self.rate}")
        _number(self.amplitude, "feedback amplitude (uA)", allow_zero=True)

    @property
    def rows(self) -> int:
        """Length in 1 ms stimulus rows."""
        return int(round(self.duration))

    @property
    def pulses(self) -> int:
        """Number of pulses: round(rate x duration)."""
        return int(round(self.rate * self.duration / 1000.0))


def _feedback(value, name: str) -> Feedback:
    if isinstance(value, Feedback):
        return value
    if isinstance(value, dict) and set(value) <= {"duration", "rate", "amplitude"} and len(value) == 3:
        return Feedback(**value)
    if isinstance(value, (tuple, list)) and len(value) == 3:
        return Feedback(*value)
    raise InvalidArgumentError(
        f"{name} must be a Feedback(duration ms, rate Hz, amplitude uA), a (duration, rate, amplitude) tuple or "
        f"a dict with those keys; got {describe(value)}"
    )


def _channels(value, name: str, known) -> tuple:
    known = [int(c) for c in known]
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise InvalidArgumentError(f"{name} must be a sequence of channel ids from {known}; got {describe(value)}")
    items = list(value)
    if not items or not all(isinstance(c, (int, np.integer)) and not isinstance(c, bool) for c in items):
        raise InvalidArgumentError(f"{name} must be a non-empty sequence of integer channel ids; got {describe(value)}")
    items = [int(c) for c in items]
    if len(set(items)) != len(items):
        raise InvalidArgumentError(f"{name} repeats a channel: {items}")
    unknown = [c for c in items if c not in known]
    if unknown:
        raise InvalidArgumentError(f"{name} names channel(s) {unknown} that this MEA does not have; channels: {known}")
    return tuple(items)


# -- the pieces, as plain functions (tested on their own) -----------------------------------------------


def place_index(ball_y: float, n: int) -> int:
    """Which of `n` place-coding electrodes encodes a ball at height `ball_y` (box units): floor(y n), clipped."""
    return int(min(n - 1, max(0, math.floor(ball_y * n))))


def sensory_rate(ball_x: float, rate_range=(4.0, 40.0)) -> float:
    """Pulse rate (Hz) for a ball at distance `ball_x` (box units) from the paddle's wall: linear, far -> low."""
    low, high = rate_range
    return float(high - (high - low) * min(1.0, max(0.0, ball_x)))


def sensory_inputs(ball_x: float, ball_y: float, rows: int, phase: float, channel_ids, sensory_channels,
                   rate_range=(4.0, 40.0), amplitude: float = 10.0):
    """Electrode inputs of one tick of sensory coding, and the pulse phase to carry to the next tick.

    **Arguments**: ball position (box units), `rows` (1 ms rows in the tick), `phase` in [0, 1)
    (the pulse accumulator), the MEA's `channel_ids`, the place-ordered `sensory_channels`,
    `rate_range` (Hz), `amplitude` (uA).

    **Returns**: `(inputs [rows, n_channels] uA, new phase, channel, rate Hz)`. Each row adds
    rate / 1000 to the phase; a row where it reaches 1 carries a 1 ms pulse on the channel.
    """
    channel = sensory_channels[place_index(ball_y, len(sensory_channels))]
    rate = sensory_rate(ball_x, rate_range)
    column = list(int(c) for c in channel_ids).index(channel)
    inputs = np.zeros((rows, len(channel_ids)))
    step = rate / 1000.0
    for row in range(rows):
        phase += step
        if phase >= 1.0 - 1e-12:
            phase -= 1.0
            inputs[row, column] = amplitude
    return inputs, max(0.0, phase), channel, rate


def decode_motor(channel_times: dict, up_channels, down_channels, gain: float, max_step: float):
    """The paddle's move from one tick's spikes: `(up count, down count, move in box heights)`.

    `channel_times` maps channel id -> spike times (any sequence; only its length counts), as
    `Env.channel_recording` returns. Move = gain * (up - down), clipped to +-`max_step`; positive is up.
    """
    up = int(sum(len(channel_times.get(c, ())) for c in up_channels))
    down = int(sum(len(channel_times.get(c, ())) for c in down_channels))
    return up, down, float(np.clip(gain * (up - down), -max_step, max_step))


def hit_feedback_inputs(feedback: Feedback, channel_ids, channels) -> np.ndarray:
    """Predictable stimulation: pulses every 1000 / rate ms from row 0, on all `channels` at once. `[rows, n]` uA."""
    inputs = np.zeros((feedback.rows, len(channel_ids)))
    columns = [list(int(c) for c in channel_ids).index(c) for c in channels]
    for k in range(feedback.pulses):
        row = int(round(k * 1000.0 / feedback.rate))
        if row < feedback.rows:
            inputs[row, columns] = feedback.amplitude
    return inputs


def miss_feedback_inputs(feedback: Feedback, channel_ids, channels, rng: np.random.Generator) -> np.ndarray:
    """Unpredictable stimulation: `feedback.pulses` pulses, each at a random ms on a random one of `channels`."""
    inputs = np.zeros((feedback.rows, len(channel_ids)))
    ids = list(int(c) for c in channel_ids)
    rows = rng.integers(0, feedback.rows, feedback.pulses)
    picks = rng.integers(0, len(channels), feedback.pulses)
    for row, pick in zip(rows, picks):
        inputs[row, ids.index(channels[pick])] += feedback.amplitude
    return inputs


class PongGame:
    """The game alone: ball in the unit box, paddle on the wall x = 0 (see the module docs).

    - `ball_speed`: box widths per second across (x); |vy| stays at most this.
    - `paddle_length`: box heights, in (0, 1].
    - `tick`: ms per `advance`.
    """

    def __init__(self, ball_speed: float = 1.0, paddle_length: float = 0.3, tick: float = 20.0):
        self.ball_speed = float(ball_speed)
        self.paddle_length = float(paddle_length)
        self.dt = float(tick) / 1000.0  # s
        self.paddle_y = 0.5
        self.ball = np.array([0.5, 0.5, -self.ball_speed, 0.0])  # x, y, vx, vy

    def reset(self, rng: np.random.Generator) -> None:
        self.paddle_y = 0.5
        self.launch(rng)

    def launch(self, rng: np.random.Generator) -> None:
        """A new ball at the centre line, toward the paddle, up to 45 degrees off the normal."""
        self.ball = np.array([0.5, rng.uniform(0.1, 0.9), -self.ball_speed,
                              self.ball_speed * rng.uniform(-1.0, 1.0)])

    def move_paddle(self, move: float) -> None:
        half = self.paddle_length / 2
        self.paddle_y = float(np.clip(self.paddle_y + move, half, 1.0 - half))

    def advance(self, move: float, rng: np.random.Generator) -> str | None:
        """One tick: move the paddle by `move` (box heights), then the ball. Returns "hit", "miss" or None.

        After a miss the ball is relaunched (see `launch`).
        """
        self.move_paddle(move)
        x, y, vx, vy = self.ball
        x, y = x + vx * self.dt, y + vy * self.dt
        if y < 0.0:
            y, vy = -y, -vy
        elif y > 1.0:
            y, vy = 2.0 - y, -vy
        if x > 1.0:
            x, vx = 2.0 - x, -vx
        event = None
        if x <= 0.0:
            if abs(y - self.paddle_y) <= self.paddle_length / 2:
                event = HIT
                x, vx = -x, -vx
                vy = float(np.clip(vy + self.ball_speed * rng.uniform(-0.5, 0.5), -self.ball_speed, self.ball_speed))
            else:
                event = MISS
        self.ball = np.array([x, y, vx, vy])
        if event == MISS:
            self.launch(rng)
        return event


class PongEnv(gym.Env):
    """Pong played by a simulated culture on its electrode array (see the module docs).

    **Arguments** (all checked before the culture is built)

    - `system`: a predefined system name (default "S2") or a system directory; or `env`: a built
      `livn.env.Env` to play with instead (configured as you want it; it must record spikes
      or not have run yet).
    - `seed`: the culture's seed (connectivity parameters and noise), non-negative integer.
    - `backend`: backend name (default `$LIVN_BACKEND`, else brian2).
    - `plasticity`: True or None (the model's default STDP rules), False (fixed weights; with `env=`,
      its plasticity is left as it is), or rules for `Env.enable_plasticity` (a rule or a dict; checked
      there, after the culture is built and before anything runs).
    - `feedback`: "full", "silent" or "none".
    - `control`: "culture", "agent" or "random".
    - `tick`: culture time per game step, whole ms (default 20).
    - `ball_speed` (box widths per s, default 1), `paddle_length` (box heights, default 0.3).
    - `sensory_channels`, `motor_channels` (up, down): channel ids of the MEA.
    - `rate_range`: (low, high) Hz of the rate code (default (4, 40)).
    - `sensory_amplitude`: uA of sensory pulses (default 10).
    - `hit_feedback`, `miss_feedback`: `Feedback(duration ms, rate Hz, amplitude uA)` or tuples;
      defaults (100, 100, sensory_amplitude) and (4000, 5, 2 x sensory_amplitude).
    - `motor_gain` (box heights per spike of difference, default 0.01) and `max_paddle_step`
      (box heights per tick, default 0.04).
    - `max_steps`: truncate episodes after this many ticks (default None: never).
    """

    metadata = {"render_modes": []}

    def __init__(self, system="S2", seed: int = 0, backend: str | None = None, plasticity=True,
                 feedback: str = "full", control: str = "culture", tick: float = 20.0, ball_speed: float = 1.0,
                 paddle_length: float = 0.3, sensory_channels=SENSORY_CHANNELS, motor_channels=MOTOR_CHANNELS,
                 rate_range=(4.0, 40.0), sensory_amplitude: float = 10.0, hit_feedback=None, miss_feedback=None,
                 motor_gain: float = 0.01, max_paddle_step: float = 0.04, max_steps: int | None = None,
                 env: Env | None = None):
        # -- check everything before building anything
        if feedback not in FEEDBACK_MODES:
            raise InvalidArgumentError(f"feedback must be one of {FEEDBACK_MODES}; got {describe(feedback)}")
        if control not in CONTROLS:
            raise InvalidArgumentError(f"control must be one of {CONTROLS}; got {describe(control)}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise InvalidArgumentError(f"seed must be a non-negative integer; got {describe(seed)}")
        if not (isinstance(plasticity, (bool, dict, STDP, InhibitorySTDP)) or plasticity is None):
            raise InvalidArgumentError(
                "plasticity must be True, False, or rules for Env.enable_plasticity (an STDP or InhibitorySTDP rule "
                f"or a dict); got {describe(plasticity)}"
            )
        self.tick = _whole_ms(tick, "tick")
        ball_speed = _number(ball_speed, "ball_speed (box widths per s)")
        if ball_speed * self.tick / 1000.0 > 0.25:
            raise InvalidArgumentError(
                f"ball_speed {ball_speed} box widths per s moves the ball more than a quarter of the box per "
                f"{self.tick} ms tick; use a slower ball or a shorter tick"
            )
        paddle_length = _number(paddle_length, "paddle_length (box heights)")
        if paddle_length > 1.0:
            raise InvalidArgumentError(f"paddle_length must be at most 1 box height; got {paddle_length}")
        if isinstance(rate_range, (str, bytes)) or not hasattr(rate_range, "__len__") or len(rate_range) != 2:
            raise InvalidArgumentError(f"rate_range must be (low Hz, high Hz); got {describe(rate_range)}")
        low = _number(rate_range[0], "rate_range low (Hz)", allow_zero=True)
        high = _number(rate_range[1], "rate_range high (Hz)")
        if low > high or high > 1000.0:
            raise InvalidArgumentError(f"rate_range must have 0 <= low <= high <= 1000 Hz; got {tuple(rate_range)}")
        self.rate_range = (low, high)
        self.sensory_amplitude = _number(sensory_amplitude, "sensory_amplitude (uA)", allow_zero=True)
        self.hit_feedback = _feedback(
            Feedback(100, 100.0, self.sensory_amplitude) if hit_feedback is None else hit_feedback, "hit_feedback")
        self.miss_feedback = _feedback(
            Feedback(4000, 5.0, 2 * self.sensory_amplitude) if miss_feedback is None else miss_feedback,
            "miss_feedback")
        self.motor_gain = _number(motor_gain, "motor_gain (box heights per spike)", allow_zero=True)
        self.max_paddle_step = _number(max_paddle_step, "max_paddle_step (box heights)")
        if max_steps is not None and (isinstance(max_steps, bool) or not isinstance(max_steps, (int, np.integer))
                                      or max_steps < 1):
            raise InvalidArgumentError(f"max_steps must be None or a positive integer; got {describe(max_steps)}")
        self.max_steps = None if max_steps is None else int(max_steps)
        if env is not None:
            if not isinstance(env, Env):
                raise InvalidArgumentError(f"env must be a livn.env.Env; got {describe(env)}")
            if env.backend is None:
                raise NotInitializedError("the culture is not built: pass Env(...).init()")
            mea = env.io
        else:
            backend = backend_name(backend)
            if isinstance(system, (str, os.PathLike)) and Path(system).is_dir():
                directory = str(system)
            elif isinstance(system, str):
                try:
                    directory = predefined(system)
                except ValueError as error:
                    raise UnknownNameError(f"system: {error}") from None
            else:
                raise InvalidArgumentError(
                    f"system must be a predefined system name or a system directory; got {describe(system)}")
            mea = MEA.from_directory(directory)
        self.sensory_channels = _channels(sensory_channels, "sensory_channels", mea.channel_ids)
        if isinstance(motor_channels, (str, bytes)) or not hasattr(motor_channels, "__len__") \
                or len(motor_channels) != 2:
            raise InvalidArgumentError(
                f"motor_channels must be (up channels, down channels); got {describe(motor_channels)}")
        up = _channels(motor_channels[0], "motor_channels[0] (up)", mea.channel_ids)
        down = _channels(motor_channels[1], "motor_channels[1] (down)", mea.channel_ids)
        shared = sorted(set(up) & set(down) | (set(up) | set(down)) & set(self.sensory_channels))
        if shared:
            raise InvalidArgumentError(
                f"sensory_channels, the up and the down motor channels must not share channels; shared: {shared}")
        self.motor_channels = (up, down)
        self.feedback = feedback
        self.control = control

        # -- build the culture
        if env is None:
            env = Env(directory, seed=int(seed), backend=backend).init().apply_model_defaults()
        if env.t == 0:
            env.record_spikes()
        self.culture = env
        self._initial_weights = None
        if plasticity is not False:
            env.enable_plasticity(None if plasticity is True else plasticity)
            self._initial_weights = np.array(env.synaptic_weights().weight, dtype=float)
        self.channel_ids = tuple(int(c) for c in env.io.channel_ids)

        self.game = PongGame(ball_speed, paddle_length, self.tick)
        self.action_space = spaces.Discrete(3 if control == "agent" else 1)
        s = ball_speed
        self.observation_space = spaces.Box(
            low=np.array([0, 0, -s, -s, 0, 0], np.float32), high=np.array([1, 1, s, s, 1, 1], np.float32),
            dtype=np.float32)
        self._new_game()

    # -- state --------------------------------------------------------------------------------------

    def _new_game(self) -> None:
        self.hits = 0
        self.misses = 0
        self.rally_hits = 0
        self.rally_lengths: list[int] = []
        self.events: list[tuple] = []
        self.trace: list[tuple] = []
        self.steps = 0
        self._phase = 0.0
        self._pending = np.zeros((0, len(self.channel_ids)))  # feedback rows still to deliver
        self._pause_rows = 0  # rows of the pending feedback during which the game is paused
        self._tick_state = None  # (paused, sensory channel, rate) of the tick whose inputs were made last

    @property
    def paused(self) -> bool:
        """True while a miss's pause lasts (game frozen)."""
        return self._pause_rows > 0

    def _observation(self) -> np.ndarray:
        x, y, vx, vy = self.game.ball
        return np.array([x, y, vx, vy, self.game.paddle_y, float(self.paused)], dtype=np.float32)

    # -- one tick, in two halves: the inputs before the culture runs, the game after -----------------

    def _next_inputs(self) -> np.ndarray:
        """Electrode inputs (uA, `[tick, n_channels]`) of the next tick; consumes that tick of pending feedback."""
        rows = self.tick
        paused = self.paused
        channel = rate = None
        if len(self._pending):
            take = self._pending[:rows]
            inputs = np.zeros((rows, len(self.channel_ids)))
            inputs[: len(take)] = take
            self._pending = self._pending[rows:]
            self._pause_rows = max(0, self._pause_rows - rows)
        else:
            x, y = self.game.ball[:2]
            inputs, self._phase, channel, rate = sensory_inputs(
                x, y, rows, self._phase, self.channel_ids, self.sensory_channels, self.rate_range,
                self.sensory_amplitude)
        self._tick_state = (paused, channel, rate)
        return inputs

    def _after_tick(self, channel_times: dict, action) -> tuple:
        """The game's half of a tick, given the tick's spikes per channel; returns `(reward, info)`."""
        paused, channel, rate = self._tick_state
        self._tick_state = None
        up, down, move = decode_motor(channel_times, *self.motor_channels, self.motor_gain, self.max_paddle_step)
        culture_move = move
        if self.control == "agent":
            move = (0.0, self.max_paddle_step, -self.max_paddle_step)[int(action)]
        elif self.control == "random":
            move = float(self.np_random.uniform(-self.max_paddle_step, self.max_paddle_step))
        event, reward = None, 0.0
        self.steps += 1
        t = float(self.steps * self.tick)
        if not paused:
            self.trace.append((t, float(self.game.ball[1] - self.game.paddle_y), move))
            event = self.game.advance(move, self.np_random)
        if event == HIT:
            self.hits += 1
            self.rally_hits += 1
            reward = 1.0
            if self.feedback == "full":
                self._schedule(hit_feedback_inputs(self.hit_feedback, self.channel_ids, self.sensory_channels), False)
        elif event == MISS:
            self.misses += 1
            self.rally_lengths.append(self.rally_hits)
            reward = -1.0
            if self.feedback == "full":
                self._schedule(miss_feedback_inputs(self.miss_feedback, self.channel_ids, self.sensory_channels,
                                                    self.np_random), True)
            elif self.feedback == "silent":
                self._schedule(np.zeros((self.miss_feedback.rows, len(self.channel_ids))), True)
        if event is not None:
            self.events.append((t, event, self.rally_hits))
            if event == MISS:
                self.rally_hits = 0
        info = {
            "hits": self.hits, "misses": self.misses, "rally_hits": self.rally_hits,
            "rally_lengths": tuple(self.rally_lengths), "event": event, "paused": bool(paused),
            "motor_counts": (up, down), "paddle_move": float(move), "culture_move": float(culture_move),
            "sensory_channel": channel, "sensory_rate": rate, "t": t,
        }
        return reward, info

    def _schedule(self, inputs: np.ndarray, pause: bool) -> None:
        self._pending = inputs
        self._pause_rows = len(inputs) if pause else 0

    # -- Gymnasium API ---------------------------------------------------------------------------------

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """A new game (see the module docs for what the culture keeps); returns `(observation, info)`."""
        super().reset(seed=seed)
        options = {} if options is None else dict(options)
        clear = options.pop("clear_culture", seed is not None)
        restore = options.pop("restore_weights", seed is not None)
        if options:
            raise InvalidArgumentError(
                f"unknown reset option(s) {sorted(options)}; known: ['clear_culture', 'restore_weights']")
        for name, value in (("clear_culture", clear), ("restore_weights", restore)):
            if not isinstance(value, (bool, np.bool_)):
                raise InvalidArgumentError(f"options['{name}'] must be True or False; got {describe(value)}")
        if restore and self._initial_weights is not None:
            self.culture.set_synaptic_weights(self._initial_weights)
        if clear:
            self.culture.clear()
        self._new_game()
        self.game.reset(self.np_random)
        return self._observation(), {"hits": 0, "misses": 0, "rally_hits": 0, "rally_lengths": (), "t": 0.0}

    def _check_action(self, action) -> int:
        try:
            ok = self.action_space.contains(np.asarray(action, dtype=np.int64))
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise InvalidArgumentError(f"action must lie in {self.action_space}; got {describe(action)}")
        return int(action)

    def step(self, action):
        """One game tick: stimulate, run the culture `tick` ms, decode the paddle's move, advance the game."""
        action = self._check_action(action)
        if self._np_random is None:
            raise NotInitializedError("call reset() before step()")
        inputs = self._next_inputs()
        result = self.culture.run(self.tick, self.culture.cell_stimulus(inputs))
        if result.it is None:
            raise RecordingError("the culture does not record spikes: call env.record_spikes() before its first run")
        _, channel_times = self.culture.channel_recording(result.it, result.t)
        reward, info = self._after_tick(channel_times, action)
        truncated = self.max_steps is not None and self.steps >= self.max_steps
        return self._observation(), reward, False, truncated, info

    def play(self, duration: float) -> dict:
        """`duration / tick` ticks with the culture playing, in closed loop (see the module docs).

        `duration`: ms, a whole number of ticks. Returns `hits`, `misses`, `rally_lengths`
        (this episode so far) and `t` (game time since the reset, ms).
        """
        if self.control == "agent":
            raise InvalidArgumentError("play() lets the culture (or chance) move the paddle; with control='agent' "
                                       "call step(action)")
        if self._np_random is None:
            raise NotInitializedError("call reset() before play()")
        duration = _number(duration, "duration (ms)")
        ticks = duration / self.tick
        if abs(ticks - round(ticks)) > 1e-9:
            raise InvalidArgumentError(f"duration must be a whole number of {self.tick} ms ticks; got {duration}")
        ticks = int(round(ticks))
        per_chunk = max(1, int(PLAY_CHUNK // self.tick))
        while ticks > 0:
            n = min(ticks, per_chunk)
            first = self._next_inputs()

            def controller(window, n=n):
                self._after_tick(window.channels[1], 0)
                return None if window.index == n - 1 else self._next_inputs()

            self.culture.stream(n * self.tick, self.tick, controller, latency=0, inputs=first)
            ticks -= n
        return {"hits": self.hits, "misses": self.misses, "rally_lengths": list(self.rally_lengths),
                "t": float(self.steps * self.tick)}

    def __repr__(self) -> str:
        return (f"PongEnv({self.culture!r}, feedback={self.feedback!r}, control={self.control!r}, "
                f"plasticity={self._initial_weights is not None}, tick={self.tick} ms)")
