"""The multi-electrode array (MEA): electrodes in, channels out.

An `MEA` is a set of electrodes, each one stimulation and recording channel.

*Stimulation* treats each electrode as a point current source. A neuron at
distance `r` (um) from an electrode that passes `I` (uA) receives an injected
current (nA)

    I_neuron = coupling * I * reference_distance / max(r, reference_distance)   if r <= input_radius
             = 0                                                                otherwise

i.e. the 1/r fall-off of the extracellular potential of a point source in a
homogeneous medium, capped at `reference_distance` (the electrode's own size, so
a neuron on top of the electrode gets `coupling` nA per uA) and cut to zero
beyond `input_radius`. Contributions of several electrodes add up.

*Recording* assigns every spike of a neuron to each channel whose electrode lies
within `output_radius` (um) of the neuron's soma.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from livn._arrays import is_traced
from livn._files import write_json
from livn.errors import InvalidArgumentError, MissingSystemFileError, describe, finite_number, numeric_array
from livn.system_directory import MEA_FILE, locate, read_json_object


def check_neuron_coordinates(neuron_coordinates) -> np.ndarray:
    """Validate `[n, 4]` rows of (gid, x, y, z), positions in um; returns a float array."""
    accepted = "numbers of shape [n_neurons, 4] (gid, x, y, z in um)"
    coords = numeric_array(neuron_coordinates, "neuron_coordinates", accepted)
    if coords.ndim != 2 or coords.shape[1] != 4:
        raise InvalidArgumentError(f"neuron_coordinates must be {accepted}; got {describe(coords)}")
    if not np.all(np.isfinite(coords)):
        raise InvalidArgumentError("neuron_coordinates contains NaN or infinite values")
    check_ids(coords[:, 0], "neuron gids (first column of neuron_coordinates)")
    return coords


def check_ids(ids: np.ndarray, what: str) -> None:
    """Gids or channel ids (a float column) must be distinct integers in [0, 2**53), exact in a float."""
    if np.any(ids != np.round(ids)) or np.any(ids < 0) or np.any(ids >= 2**53) or len(np.unique(ids)) != len(ids):
        raise InvalidArgumentError(f"{what} must be distinct integers from 0 to 2**53; got {describe(ids.tolist())}")


def check_electrode_inputs(inputs, n_channels: int, max_rows: int | None = None, name: str = "inputs",
                           row_ms: float = 1.0) -> np.ndarray:
    """Electrode inputs as a float `[rows, n_channels]` array of finite currents in uA, or a clear error.

    **Arguments**: `inputs` (array-like, uA); `n_channels`; `max_rows` (None: any number >= 1);
    `name` (for messages); `row_ms` (ms per row, for messages).
    """
    rows = "rows >= 1" if max_rows is None else f"1 <= rows <= {max_rows}"
    accepted = f"electrode currents in uA of shape [rows, {n_channels}] with {rows} ({row_ms:g} ms per row)"
    array = numeric_array(inputs, name, accepted)
    too_many = max_rows is not None and array.ndim == 2 and array.shape[0] > max_rows
    if array.ndim != 2 or array.shape[1] != n_channels or array.shape[0] < 1 or too_many:
        raise InvalidArgumentError(f"{name} must be {accepted}; got {describe(inputs)}")
    if not np.all(np.isfinite(array)):
        raise InvalidArgumentError(f"{name} contain NaN or infinite values")
    return array


#: Most electrodes `MEA.grid` lays out; high-density arrays have tens of thousands, and the
#: stimulus transfer matrix holds channels x neurons floats (1e6 x 1e4 neurons is 80 GB).
MAX_GRID_ELECTRODES = 1_000_000


class MEA:
    """Electrode layout of a multi-electrode array.

    **Arguments**

    - `electrode_coordinates`: `[n_channels, 4]` rows of (channel id, x, y, z), um.
    - `input_radius`: distance (um) beyond which an electrode does not stimulate.
    - `output_radius`: distance (um) within which an electrode records a neuron.
    - `reference_distance`: distance (um) below which the stimulation fall-off is capped.
    - `coupling`: injected current (nA) per electrode current (uA) at `reference_distance`.
    """

    def __init__(
        self,
        electrode_coordinates,
        input_radius: float,
        output_radius: float,
        reference_distance: float = 10.0,
        coupling: float = 1.0,
    ):
        accepted = "numbers of shape [n_channels, 4] (id, x, y, z in um) with at least one electrode"
        coords = numeric_array(electrode_coordinates, "electrode_coordinates", accepted)
        if coords.ndim != 2 or coords.shape[1] != 4 or coords.shape[0] == 0:
            raise InvalidArgumentError(f"electrode_coordinates must be {accepted}; got {describe(coords)}")
        if not np.all(np.isfinite(coords)):
            raise InvalidArgumentError("electrode_coordinates contains NaN or infinite values")
        check_ids(coords[:, 0], "electrode ids (first column of electrode_coordinates)")
        for name, value in [
            ("input_radius", input_radius),
            ("output_radius", output_radius),
            ("reference_distance", reference_distance),
            ("coupling", coupling),
        ]:
            number = finite_number(value)
            if number is None or number <= 0:
                raise InvalidArgumentError(f"{name} must be a positive finite number; got {describe(value)}")
        self.electrode_coordinates = coords
        self.input_radius = float(input_radius)
        self.output_radius = float(output_radius)
        self.reference_distance = float(reference_distance)
        self.coupling = float(coupling)

    # -- construction and files ------------------------------------------------

    @classmethod
    def grid(
        cls,
        width: float,
        height: float,
        rows: int = 4,
        columns: int = 4,
        origin: tuple[float, float] = (0.0, 0.0),
        z: float = 0.0,
        **kwargs,
    ) -> "MEA":
        """A `rows` x `columns` grid spanning the rectangle `width` x `height` (um) from `origin`.

        Electrodes sit at the centres of equal tiles, numbered row by row from 0.
        Unless given, `input_radius` and `output_radius` are the half-diagonal of a
        tile (rounded up to 1 um), so that every point of the rectangle lies within
        reach of at least one electrode.
        """
        for name, value in [("width", width), ("height", height)]:
            number = finite_number(value)
            if number is None or number <= 0:
                raise InvalidArgumentError(f"{name} must be a positive number of um; got {describe(value)}")
        for name, value in [("rows", rows), ("columns", columns)]:
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise InvalidArgumentError(f"{name} must be a positive integer; got {describe(value)}")
        if rows * columns > MAX_GRID_ELECTRODES:
            raise InvalidArgumentError(
                f"rows x columns must be at most {MAX_GRID_ELECTRODES:,} electrodes; got rows={rows}, columns={columns}"
            )
        accepted = "the (x, y) of the grid's corner in um, two finite numbers"
        corner = numeric_array(origin, "origin", accepted)
        if corner.shape != (2,) or not np.all(np.isfinite(corner)):
            raise InvalidArgumentError(f"origin must be {accepted}; got {describe(origin)}")
        if finite_number(z) is None:
            raise InvalidArgumentError(f"z must be a finite number of um (the electrodes' height); got {describe(z)}")
        pitch_x, pitch_y = width / columns, height / rows
        electrodes = []
        for r in range(rows):
            for c in range(columns):
                x = corner[0] + (c + 0.5) * pitch_x
                y = corner[1] + (r + 0.5) * pitch_y
                electrodes.append([r * columns + c, x, y, z])
        reach = float(math.ceil(math.hypot(pitch_x / 2, pitch_y / 2)))
        kwargs.setdefault("input_radius", reach)
        kwargs.setdefault("output_radius", reach)
        return cls(electrodes, **kwargs)

    def to_dict(self) -> dict:
        """The JSON-serialisable form written to `mea.json`."""
        return {
            "electrodes": [[int(row[0]), *map(float, row[1:])] for row in self.electrode_coordinates],
            "input_radius": self.input_radius,
            "output_radius": self.output_radius,
            "reference_distance": self.reference_distance,
            "coupling": self.coupling,
        }

    @classmethod
    def from_dict(cls, data: dict) -> "MEA":
        """Rebuild an `MEA` from `to_dict()` output (`electrode_coordinates` is accepted for `electrodes`)."""
        if not isinstance(data, dict):
            raise InvalidArgumentError(f"an MEA description must be a dict; got {describe(data)}")
        electrodes = data.get("electrodes", data.get("electrode_coordinates"))
        missing = [k for k in ("input_radius", "output_radius") if k not in data]
        if electrodes is None or missing:
            raise InvalidArgumentError(
                "an MEA description needs 'electrodes', 'input_radius' and 'output_radius'; "
                f"missing {(['electrodes'] if electrodes is None else []) + missing}"
            )
        optional = {k: data[k] for k in ("reference_distance", "coupling") if k in data}
        return cls(electrodes, data["input_radius"], data["output_radius"], **optional)

    def save(self, path: str | os.PathLike) -> Path:
        """Write the layout as JSON to `path` (a file, or a directory to hold `mea.json`), atomically."""
        if not isinstance(path, (str, os.PathLike)):
            raise InvalidArgumentError(f"path must be a file or directory path for mea.json; got {describe(path)}")
        path = Path(path)
        if path.is_dir():
            path = path / MEA_FILE
        write_json(path, self.to_dict())
        return path

    @classmethod
    def from_directory(cls, directory: str | os.PathLike) -> "MEA":
        """Read `mea.json` from a system directory."""
        if not isinstance(directory, (str, os.PathLike)):
            raise InvalidArgumentError(f"directory must be a path to a system directory; got {describe(directory)}")
        path = locate(directory, MEA_FILE)
        data = read_json_object(path)
        if data is None:
            raise MissingSystemFileError(f"no electrode layout: {path} does not exist")
        return cls.from_dict(data)

    # -- geometry ---------------------------------------------------------------

    @property
    def num_channels(self) -> int:
        """Number of electrodes (= stimulation and recording channels)."""
        return self.electrode_coordinates.shape[0]

    @property
    def channel_ids(self) -> np.ndarray:
        """Channel ids, in the order of the rows of `electrode_coordinates`."""
        return self.electrode_coordinates[:, 0].astype(int)

    def distances(self, neuron_coordinates) -> np.ndarray:
        """`[n_channels, n_neurons]` electrode-to-soma distances, um."""
        coords = check_neuron_coordinates(neuron_coordinates)
        delta = self.electrode_coordinates[:, None, 1:] - coords[None, :, 1:]
        return np.sqrt(np.sum(delta**2, axis=-1))

    def stimulus_transfer(self, neuron_coordinates) -> np.ndarray:
        """`[n_channels, n_neurons]` matrix, nA of injected current per uA of electrode current."""
        r = self.distances(neuron_coordinates)
        falloff = self.reference_distance / np.maximum(r, self.reference_distance)
        return np.where(r <= self.input_radius, self.coupling * falloff, 0.0)

    def recording_mask(self, neuron_coordinates) -> np.ndarray:
        """`[n_channels, n_neurons]` booleans: True where the channel records the neuron."""
        return self.distances(neuron_coordinates) <= self.output_radius

    # -- stimulation and recording ---------------------------------------------

    def couple(self, neuron_coordinates) -> "Coupling":
        """The array over one culture: transfer and recording matrices computed once, for repeated use."""
        return Coupling(self, neuron_coordinates)

    def cell_stimulus(self, neuron_coordinates, channel_inputs):
        """Map electrode currents to per-neuron injected currents (see `Coupling.cell_stimulus`).

        `neuron_coordinates` is `[n_neurons, 4]` (gid, x, y, z in um). For repeated
        calls on one culture, `couple(neuron_coordinates)` once and use the result.
        """
        return self.couple(neuron_coordinates).cell_stimulus(channel_inputs)

    def channel_recording(self, neuron_coordinates, it, t) -> tuple[dict, dict]:
        """Sort neuron spikes into recording channels (see `Coupling.channel_recording`)."""
        return self.couple(neuron_coordinates).channel_recording(it, t)

    def __repr__(self) -> str:
        return (
            f"MEA({self.num_channels} electrodes, input_radius={self.input_radius} um, "
            f"output_radius={self.output_radius} um)"
        )


class Coupling:
    """An `MEA` over one culture: which neurons each electrode drives and records.

    Built by `MEA.couple(neuron_coordinates)`; holds `stimulus_transfer`
    (`[n_channels, n_neurons]`, nA per uA) and `recording_mask`
    (`[n_channels, n_neurons]` booleans) so that repeated stimulation and
    recording (closed loops, datasets) do not recompute distances.
    """

    def __init__(self, mea: MEA, neuron_coordinates):
        coords = check_neuron_coordinates(neuron_coordinates)
        self.mea = mea
        self.gids = coords[:, 0].astype(np.int64)
        self.stimulus_transfer = mea.stimulus_transfer(coords)
        self.recording_mask = mea.recording_mask(coords)
        self._gid_order = np.argsort(self.gids)

    def cell_stimulus(self, channel_inputs, name: str = "channel_inputs"):
        """Per-neuron injected currents for electrode inputs.

        **Arguments**

        - `channel_inputs`: `[T, n_channels]` or `[B, T, n_channels]` electrode
          currents in uA, one row per time step (the caller fixes the step, 1 ms in `Env`).
          A JAX array is accepted and stays differentiable.
        - `name`: what errors call `channel_inputs` (the caller's own argument name).

        **Returns**

        `[T, n_neurons]` (or `[B, T, n_neurons]`) injected currents in nA.
        """
        channels = self.mea.num_channels
        accepted = f"electrode currents in uA of shape [T, {channels}] or [B, T, {channels}]"
        inputs = channel_inputs
        if not type(inputs).__module__.startswith("jax"):  # JAX arrays stay JAX (differentiable)
            inputs = numeric_array(inputs, name, accepted)
        elif not any(kind in str(inputs.dtype) for kind in ("float", "int", "bool")):
            raise InvalidArgumentError(f"{name} must be {accepted}; got {describe(inputs)}")
        shape = inputs.shape
        if len(shape) not in (2, 3) or shape[-1] != channels:
            raise InvalidArgumentError(f"{name} must be {accepted}; got {describe(inputs)}")
        if not is_traced(inputs) and not bool(np.all(np.isfinite(np.asarray(inputs)))):
            raise InvalidArgumentError(f"{name} contains NaN or infinite values")
        return inputs @ self.stimulus_transfer

    def channel_recording(self, it, t) -> tuple[dict, dict]:
        """Sort neuron spikes into recording channels.

        **Arguments**

        - `it`: spiking neuron gids, one per spike.
        - `t`: spike times (ms), one per spike.

        **Returns**

        `(cit, ct)`: dicts from channel id to the gids and the times (ms) of the
        spikes of neurons within `output_radius` of that channel's electrode, in the
        order of the input. Every channel has an entry, empty if it saw nothing.
        """
        it = numeric_array(it, "it", "integer neuron gids, one per spike")
        t = numeric_array(t, "t", "spike times in ms, one per spike")
        if it.ndim != 1 or t.ndim != 1 or it.shape != t.shape:
            raise InvalidArgumentError(
                f"it and t must be 1-d arrays of equal length (one entry per spike); "
                f"got it {describe(it)} and t {describe(t)}"
            )
        if it.size and (not np.all(np.isfinite(it)) or np.any(it != np.round(it))):
            raise InvalidArgumentError(f"it must hold integer neuron gids; got {describe(it)}")
        if not np.all(np.isfinite(t)):
            raise InvalidArgumentError("t (spike times, ms) contains NaN or infinite values")
        sorted_gids = self.gids[self._gid_order]
        position = np.searchsorted(sorted_gids, it)
        known = (position < len(sorted_gids)) & (
            sorted_gids[np.minimum(position, len(sorted_gids) - 1)] == it if len(sorted_gids) else False)
        if not np.all(known):
            raise InvalidArgumentError(
                f"it contains gids that are not in neuron_coordinates: {np.unique(it[~known])[:10].tolist()}"
            )
        row = self._gid_order[position]
        cit, ct = {}, {}
        for c, channel in enumerate(self.mea.channel_ids):
            seen = self.recording_mask[c, row]
            cit[int(channel)] = it[seen].astype(np.int64)
            ct[int(channel)] = t[seen]
        return cit, ct
