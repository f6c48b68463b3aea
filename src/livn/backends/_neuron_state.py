"""Checkpoints of the NEURON backend: its whole dynamic state, saved and restored per MPI rank.

A mixin of `livn.backends.neuron.NeuronBackend` (it uses that backend's NEURON
runtime, cells and synapses). Each rank saves, with NEURON's `SaveState`, every
cell's variables (its number of plastic inputs included), every NetCon's weight
vector (weight, depression, plasticity traces and coefficients), t and the event
queue (spikes in flight; at the end of `psolve` every spike has been exchanged,
so the queues hold them all, and every event of the last step, postsynaptic
self-events included, has been delivered), plus what SaveState does not store:
each cell's Random123 noise-stream position, the mechanism's GLOBAL parameters
and the step count. Rank 0 gathers the parts;
on loading, every rank reads the whole tree and restores its own part, which
needs the same number of ranks. SaveState names NetCons by their index in
NEURON's interpreter and aborts the process on a mismatch, so the model's
structure is recorded with the bytes and compared before NEURON reads them.
"""

from __future__ import annotations

import hashlib
import os
import tempfile

import numpy as np

from livn._mpi import mark_collective
from livn.errors import CheckpointError

#: Version of the layout of `NeuronBackend.get_state`'s tree (2: NetCons carry plasticity, events at
#: (step + 5/6) dt; 3: cells carry their synaptic currents; an older state does not fit the mechanism).
STATE_FORMAT = 3
#: Mechanism GLOBALs of `LivnCultureCell`, saved in checkpoints (SaveState does not store them).
MECHANISM_GLOBALS = ("capacitance", "v_peak", "e_ampa", "e_gaba", "tau_ampa", "tau_gaba", "tau_noise",
                     "noise_mean", "noise_std", "tau_rec", "release_fraction")


def _noise_ids(cells) -> np.ndarray:
    """The Random123 keys of the cells' noise streams, one row per cell."""
    return np.array([list(cell.noise_stream.get_ids()) for cell in cells], dtype=np.float64).reshape(-1, 3)


def _savestate_digest(blob: bytes, structure: dict) -> str:
    """SHA-256 binding SaveState's bytes to the description of the model they were saved from."""
    digest = hashlib.sha256(blob)
    digest.update(repr((structure["neuron_version"], int(structure["sections"]), int(structure["cells"]))).encode())
    digest.update(np.ascontiguousarray(structure["netcon_indices"], dtype=np.int64).tobytes())
    return digest.hexdigest()


# -- the backend -----------------------------------------------------------------------------------


class NeuronCheckpoints:
    """`get_state`, `check_state` and `set_state` of the NEURON backend (see the module docstring)."""

    # -- checkpoints -------------------------------------------------------------------------------

    def get_state(self) -> dict | None:
        """The whole network's dynamic state (collective under MPI): rank 0 gets it, other ranks None.

        `{"format", "ranks", "step", "parts": [part of rank 0, part of rank 1, ...]}`; a part
        holds the rank's `SaveState` (as uint8 bytes), its cells' noise stream positions and
        the mechanism GLOBALs.
        """
        self._check_active()
        if self._needs_init:  # not run since t = 0: save the state run() would start from
            self._rt.h.finitialize()  # collective; every rank is here (SPMD)
            self._needs_init = False
        part, error = None, None
        try:
            part = self._state_part()
        except Exception as e:  # noqa: BLE001 - reported to every rank
            error = e
        self._rt.agree(error, "saving the NEURON state")
        parts = self._rt.world.gather(part)
        if parts is None:
            return None
        return {"format": STATE_FORMAT, "ranks": self.num_ranks, "step": self._step, "parts": parts}

    def _state_part(self) -> dict:
        """This rank's part of the checkpoint (no collective calls)."""
        h = self._rt.h
        with tempfile.TemporaryDirectory(prefix="livn-savestate-") as directory:
            path = os.path.join(directory, "state.dat")
            self._savestate.save()
            f = h.File()
            f.wopen(path)
            self._savestate.fwrite(f)  # closes f
            with open(path, "rb") as fh:
                blob = fh.read()
            structure = self._structure()
        cells = self._local_cells()
        return {
            "rank": self.rank,
            "t": float(h.t),  # NEURON's accumulated time (also inside savestate), to check the restore
            "dt": float(h.dt),
            "local_gids": self.local_gids.copy(),
            "num_netcons": sum(len(netcons) for netcons in self._synapses.values()),
            "structure": structure,
            "savestate": np.frombuffer(blob, dtype=np.uint8).copy(),
            "digest": _savestate_digest(blob, structure),
            "noise_seq": np.array([cell.noise_stream.get_seq() for cell in cells], dtype=np.float64),
            "noise_ids": _noise_ids(cells),
            "globals": {name: float(getattr(h, f"{name}_LivnCultureCell")) for name in MECHANISM_GLOBALS},
            "vm": np.array([cell.vm for cell in cells], dtype=np.float64),
            "u": np.array([cell.u for cell in cells], dtype=np.float64),
            "weights": self._local_weights(),  # nS, to check the restore (SaveState holds them)
        }

    def _local_cells(self) -> list:
        return [self._cells[gid] for gid in self.local_gids.tolist()]

    def _structure(self) -> dict:
        """What NEURON's SaveState needs to match when it reads a state back, as this process has it now.

        `SaveState.fread` does not check the network, it asserts (and aborts the process) when the
        events in the queue name NetCons by hoc index that do not exist, so these are compared first.
        """
        h = self._rt.h
        netcons = h.List("NetCon")
        indices = [int(netcons.o(i).hname()[len("NetCon["):-1]) for i in range(int(netcons.count()))]
        return {
            "neuron_version": str(self._rt.neuron_version),
            "sections": sum(1 for _ in h.allsec()),
            "cells": int(h.List("LivnCultureCell").count()),
            "netcon_indices": np.array(indices, dtype=np.int64),
        }

    def check_state(self, state) -> None:
        """Raise `CheckpointError` on every rank unless `set_state(state)` can restore it (collective)."""
        self._check_active()
        if not isinstance(state, dict) or state.get("format") != STATE_FORMAT \
                or not isinstance(state.get("parts"), list):
            raise mark_collective(CheckpointError(f"not a NEURON backend state of format {STATE_FORMAT}"))
        # The same tree on every rank: each rank raises the same error here, without waiting for the others.
        if state.get("ranks") != self.num_ranks or len(state["parts"]) != self.num_ranks:
            raise mark_collective(CheckpointError(
                f"the checkpoint was saved by {state.get('ranks')} MPI rank(s) and this job has {self.num_ranks}: "
                f"a NEURON checkpoint continues only on the number of ranks that saved it "
                f"(run with mpirun -n {state.get('ranks')})"
            ))
        error = None
        try:
            self._check_part(state["parts"][self.rank], int(state["step"]))
        except Exception as e:  # noqa: BLE001 - reported to every rank
            error = e
        self._rt.agree(error, "checking the checkpoint")

    def set_state(self, state: dict) -> None:
        """Continue from `get_state`'s tree of the same network on the same number of ranks (collective).

        Every rank passes the whole tree (each reads the same file) and restores its own part.
        """
        self.check_state(state)
        part, h = state["parts"][self.rank], self._rt.h
        error = None
        h.finitialize()  # collective: sets up the spike exchange; everything it set is overwritten below
        try:
            self._restore_part(part)
        except Exception as e:  # noqa: BLE001 - reported to every rank
            error = e
        try:
            self._rt.agree(error, "restoring the checkpoint")
        except BaseException:
            self.clear()  # a half-restored network is not a state: back to t = 0
            raise
        self._step = int(state["step"])
        self._needs_init = False  # run() must not finitialize over the restored state
        # Recordings: no spikes yet; each voltage Vector holds the one sample run() keeps between windows.
        if self._spikes is not None:
            for vector in self._spikes:
                vector.resize(0)
        if self._voltage is not None:
            for gid, vector in self._voltage[2].items():
                vector.resize(0)
                vector.append(self._cells[gid].vm)
        if self._currents is not None:  # the next run's steps record them
            for vectors in self._currents[2].values():
                for vector in vectors:
                    vector.resize(0)

    def _check_part(self, part, step: int) -> None:
        def fail(what):
            raise CheckpointError(f"rank {self.rank}'s part of the checkpoint {what}")

        if not isinstance(part, dict) or part.get("rank") != self.rank:
            fail("is missing or belongs to another rank")
        keys = ("t", "dt", "local_gids", "num_netcons", "structure", "savestate", "digest", "noise_seq",
                "noise_ids", "globals", "vm", "u", "weights")
        missing = [key for key in keys if key not in part]
        if missing:
            fail(f"lacks {', '.join(missing)}")
        n = len(self.local_gids)
        if not np.array_equal(np.asarray(part["local_gids"]), self.local_gids):
            fail("holds other cells than this rank's")
        netcons = sum(len(netcons) for netcons in self._synapses.values())
        if part["num_netcons"] != netcons:
            fail(f"has {part['num_netcons']} synapses, this rank {netcons}")
        if float(part["dt"]) != self.dt:
            fail(f"was saved with dt = {part['dt']} ms, this network has {self.dt} ms")
        if abs(float(part["t"]) - step * self.dt) > 0.5 * self.dt:
            fail(f"is at t = {part['t']} ms, not at step {step}")
        savestate = part["savestate"]
        if not isinstance(savestate, np.ndarray) or savestate.dtype != np.uint8 or savestate.ndim != 1 \
                or not savestate.size:
            fail("has no NEURON SaveState bytes")
        saved, now = part["structure"], self._structure()
        if not isinstance(saved, dict) or set(saved) != set(now):
            fail("lacks the description of the NEURON model it was saved from")
        if _savestate_digest(savestate.tobytes(), saved) != part["digest"]:
            fail("is damaged: its NEURON SaveState bytes and model description are not the ones saved together")
        if saved["neuron_version"] != now["neuron_version"]:
            fail(f"was saved by NEURON {saved['neuron_version']}, this is NEURON {now['neuron_version']}")
        if saved["sections"] != now["sections"] or saved["cells"] != now["cells"]:
            fail(f"was saved from {saved['sections']} section(s) and {saved['cells']} cell(s); this process has "
                 f"{now['sections']} and {now['cells']} (other NEURON objects in the process?)")
        if not np.array_equal(np.asarray(saved["netcon_indices"]), now["netcon_indices"]):
            fail(f"was saved from {len(saved['netcon_indices'])} NetCons numbered differently from this process's "
                 f"{len(now['netcon_indices'])} (NetCons built outside this network, or kept alive from an "
                 "earlier one, shift NEURON's numbering: load in a fresh process)")
        if np.shape(part["noise_seq"]) != (n,) or np.shape(part["vm"]) != (n,) or np.shape(part["u"]) != (n,):
            fail(f"does not hold {n} cells")
        if np.shape(part["weights"]) != (netcons,):
            fail(f"does not hold the weights of {netcons} synapses")
        if not np.array_equal(np.asarray(part["noise_ids"]), _noise_ids(self._local_cells())):
            fail("has other noise streams (seed or gids differ)")
        if not isinstance(part["globals"], dict) or set(part["globals"]) != set(MECHANISM_GLOBALS):
            fail("lacks the mechanism's GLOBAL parameters")

    def _restore_part(self, part: dict) -> None:
        """Put this rank's part back, after `h.finitialize()` (no collective calls)."""
        h = self._rt.h
        with tempfile.TemporaryDirectory(prefix="livn-savestate-") as directory:
            path = os.path.join(directory, "state.dat")
            with open(path, "wb") as fh:
                fh.write(np.asarray(part["savestate"], dtype=np.uint8).tobytes())
            try:
                f = h.File()
                f.ropen(path)
                saved = h.SaveState()
                saved.fread(f)  # closes f
                saved.restore(0)  # 0: empty the event queue and put the saved events back; also sets t
            except RuntimeError as e:
                raise CheckpointError(
                    f"NEURON rejected rank {self.rank}'s saved state ({e}): it was saved from a network built "
                    "differently (other cells, synapses or NEURON version)"
                ) from None
        for name, value in part["globals"].items():
            setattr(h, f"{name}_LivnCultureCell", float(value))
        cells = self._local_cells()
        for cell, seq in zip(cells, np.asarray(part["noise_seq"]).tolist()):
            cell.noise_stream.set_seq(seq)
        # What NEURON put back must be what was saved, bit for bit.
        if h.t != float(part["t"]):
            raise CheckpointError(
                f"NEURON restored t = {h.t!r} ms on rank {self.rank}, not the saved {float(part['t'])!r} ms"
            )
        for name in ("vm", "u"):
            if not np.array_equal([getattr(cell, name) for cell in cells], np.asarray(part[name])):
                raise CheckpointError(f"NEURON did not restore {name} of rank {self.rank}'s cells as saved")
        if not np.array_equal(self._local_weights(), np.asarray(part["weights"])):
            raise CheckpointError(f"NEURON did not restore the synaptic weights of rank {self.rank} as saved")
        if not np.array_equal([cell.noise_stream.get_seq() for cell in cells], np.asarray(part["noise_seq"])):
            raise CheckpointError(f"the noise streams of rank {self.rank} did not return to their saved positions")
