"""Read a livn dataset and map one recorded trial onto the electrode channels.

    python examples/using_the_dataset.py [DATASET_DIR]

Without DATASET_DIR it first samples a small S1 dataset into ./livn-example-dataset
(what `livn systems sample --system S1 --samples 8 --t-end 200 --out ...` does).
"""

import sys
from pathlib import Path

from datasets import load_dataset

from livn.io import MEA
from livn.stimulation import pulses_from_features
from livn.system import make


def make_small_dataset(out: Path) -> Path:
    from livn.systems.sample import SamplingPlan, sample

    plan = SamplingPlan(samples=8, test_samples=2, t_end=200, shard_size=4)
    return sample("S1", out, plan, progress=False)


path = Path(sys.argv[1]) if len(sys.argv) > 1 else make_small_dataset(Path("livn-example-dataset"))

dataset = load_dataset(str(path), name="S1")
sample = dataset["train_with_noise"][0]
it, t = sample["trial_it"][0], sample["trial_t"][0]
system = make("S1")
mea = MEA.from_directory(system.uri)
cit, ct = mea.channel_recording(system.neuron_coordinates, it, t)

print(dataset)
print(f"sample seed {sample['seed']}: {sample['trials']} trial(s) of {sample['t_end']:g} ms")
for pulse in pulses_from_features(sample["features"]):
    print(f"  stimulation: channel {pulse.channel}, {pulse.amplitude:.1f} uA at {pulse.start:g} ms for {pulse.width:g} ms")
print(f"{len(it)} spikes of {len(set(it))} neurons; per channel: "
      + ", ".join(f"{c}: {len(ct[c])}" for c in sorted(ct) if len(ct[c])))
