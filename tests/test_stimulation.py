"""Stimulation as rigs deliver it: biphasic pulses and trains on the 0.1 ms grid, charge balance, parsing."""

import math

import numpy as np
import pytest

from livn.errors import InvalidArgumentError
from livn.stimulation import (
    BiphasicPulse,
    ElectrodeStimulation,
    Pulse,
    PulseTrain,
    RandomStimulation,
    electrode_inputs,
    pulse_inputs,
)

CHANNELS = [0, 1, 2, 3]


def test_biphasic_pulse_lands_on_the_exact_rows_of_the_0_1_ms_grid():
    # 20 uA cathodic for 0.2 ms from 1.0 ms, a 0.1 ms gap, then 20 uA anodic for 0.2 ms
    pulse = BiphasicPulse(2, 20.0, 1.0, 0.2, interphase_gap=0.1)
    expected = np.zeros((30, 4))
    expected[[10, 11], 2] = 20.0  # [1.0, 1.2) ms: cathodic, positive in livn's sign
    expected[[13, 14], 2] = -20.0  # [1.3, 1.5) ms: anodic
    np.testing.assert_array_equal(electrode_inputs([pulse], 3.0, CHANNELS, step=0.1), expected)


def test_anodic_first_reverses_the_signs_and_cathodic_first_starts_positive():
    cathodic = electrode_inputs([BiphasicPulse(0, 5.0, 0.5, 0.5)], 2.0, CHANNELS, step=0.5)[:, 0]
    anodic = electrode_inputs([BiphasicPulse(0, 5.0, 0.5, 0.5, cathodic_first=False)], 2.0, CHANNELS, step=0.5)[:, 0]
    np.testing.assert_array_equal(cathodic, [0.0, 5.0, -5.0, 0.0])
    np.testing.assert_array_equal(anodic, -cathodic)


@pytest.mark.parametrize("step", [0.1, 0.2, 0.5, 1.0])
@pytest.mark.parametrize("amplitude, phase, gap", [(0.1, 1.0, 0.0), (7.3, 2.0, 1.0), (123.456, 1.0, 3.0)])
def test_a_charge_balanced_pulse_delivers_zero_net_charge_exactly(step, amplitude, phase, gap):
    pulse = BiphasicPulse(1, amplitude, 2.0, phase, gap)
    column = electrode_inputs([pulse], 10.0, CHANNELS, step=step)[:, 1]
    assert math.fsum(column) * step == 0.0
    assert math.fsum(column[column > 0]) * step == pytest.approx(amplitude * phase, rel=1e-12)  # nC per phase


def test_an_asymmetric_balanced_pulse_has_equal_phase_charges():
    # 20 uA x 0.2 ms = 4 nC, then 10 uA x 0.4 ms = 4 nC
    pulse = BiphasicPulse(3, 20.0, 0.0, 0.2, second_amplitude=10.0, second_width=0.4)
    assert pulse.charge_per_phase == pytest.approx((4.0, 4.0))
    assert pulse.net_charge == 0.0 and pulse.width == pytest.approx(0.6) and pulse.end == pytest.approx(0.6)
    column = electrode_inputs([pulse], 1.0, CHANNELS, step=0.1)[:, 3]
    np.testing.assert_array_equal(column, [20, 20, -10, -10, -10, -10, 0, 0, 0, 0])
    assert math.fsum(column) * 0.1 == 0.0


def test_an_unbalanced_pulse_is_accepted_when_not_asked_to_be_balanced():
    pulse = BiphasicPulse(0, 10.0, 0.0, 0.2, second_width=0.1, charge_balanced=False)
    assert pulse.charge_per_phase == pytest.approx((2.0, 1.0))
    assert pulse.net_charge == pytest.approx(1.0)  # nC, cathodic
    column = electrode_inputs([pulse], 1.0, CHANNELS, step=0.1)[:, 0]
    assert math.fsum(column) * 0.1 == pytest.approx(1.0)


def test_a_pulse_with_whole_ms_phases_carries_the_same_current_on_every_grid():
    stimuli = [BiphasicPulse(1, 4.0, 3.0, 2.0, 1.0), PulseTrain(Pulse(2, -1.5, 1.0, 1.0), 3, period=4.0)]
    coarse = electrode_inputs(stimuli, 20.0, CHANNELS, step=1.0)
    for step in (0.5, 0.2, 0.1):
        fine = electrode_inputs(stimuli, 20.0, CHANNELS, step=step)
        per_ms = round(1 / step)
        np.testing.assert_allclose(fine.reshape(20, per_ms, 4).mean(axis=1), coarse, atol=1e-12)


def test_a_train_repeats_its_pulse_at_its_onsets():
    train = PulseTrain(BiphasicPulse(1, 8.0, 5.0, 0.2, 0.1), 4, rate_hz=100.0)  # every 10 ms from 5 ms
    assert train.period == 10.0
    np.testing.assert_allclose(train.onsets, [5.0, 15.0, 25.0, 35.0])
    assert [p.start for p in train.pulses()] == pytest.approx([5.0, 15.0, 25.0, 35.0])
    assert train.end == pytest.approx(35.5)
    column = electrode_inputs([train], 40.0, CHANNELS, step=0.1)[:, 1]
    onsets = np.flatnonzero((column > 0) & (np.r_[0.0, column[:-1]] <= 0))
    np.testing.assert_array_equal(onsets, [50, 150, 250, 350])
    assert np.count_nonzero(column) == 4 * 4 and math.fsum(column) == 0.0
    assert PulseTrain(train.pulse, 4, period=10.0) == train


def test_overlapping_stimuli_add():
    inputs = electrode_inputs(
        [BiphasicPulse(0, 10.0, 1.0, 0.5), Pulse(0, 3.0, 0.5, 1.0), PulseTrain(Pulse(2, 1.0, 0.0, 0.5), 2, period=1.0)],
        2.0, CHANNELS, step=0.5,
    )
    np.testing.assert_array_equal(inputs[:, 0], [0.0, 3.0, 13.0, -10.0])
    np.testing.assert_array_equal(inputs[:, 2], [1.0, 0.0, 1.0, 0.0])


def test_monophasic_pulses_on_the_1_ms_grid_match_pulse_inputs():
    pulses = [Pulse(0, 2.5, 0.0, 3.0), Pulse(1, -4.0, 10.4, 2.6), Pulse(1, 1.0, 11.0, 0.2), Pulse(3, 7.0, 19.0, 1.0)]
    np.testing.assert_array_equal(electrode_inputs(pulses, 20.5, CHANNELS), pulse_inputs(pulses, 20.5, CHANNELS))
    for seed in range(5):
        drawn = RandomStimulation().draw(seed, 60, range(16))
        np.testing.assert_array_equal(electrode_inputs(drawn, 60, range(16), step=1.0),
                                      pulse_inputs(drawn, 60, range(16)))


def test_monophasic_pulses_on_a_fine_grid_are_placed_exactly():
    column = electrode_inputs([Pulse(0, 5.0, 1.3, 0.4)], 2.0, CHANNELS, step=0.1)[:, 0]
    np.testing.assert_array_equal(np.flatnonzero(column), [13, 14, 15, 16])


def test_electrode_stimulation_from_stimuli():
    stimuli = [BiphasicPulse(3, 20.0, 1.0, 0.2)]
    delivered = ElectrodeStimulation.from_stimuli(stimuli, 3.0, CHANNELS, step=0.1)
    assert delivered.step == 0.1 and delivered.duration == pytest.approx(3.0)
    np.testing.assert_array_equal(delivered.currents, electrode_inputs(stimuli, 3.0, CHANNELS, step=0.1))
    np.testing.assert_array_equal(delivered.channel_ids, CHANNELS)


@pytest.mark.parametrize("arguments, named", [
    (dict(amplitude=0.0), "amplitude"),
    (dict(amplitude=-5.0), "amplitude"),
    (dict(amplitude=math.nan), "amplitude"),
    (dict(start=-1.0), "start"),
    (dict(phase_width=0.0), "phase_width"),
    (dict(interphase_gap=-0.1), "interphase_gap"),
    (dict(second_amplitude=0.0), "second_amplitude"),
    (dict(second_width=math.inf), "second_width"),
    (dict(cathodic_first="yes"), "cathodic_first"),
    (dict(charge_balanced=1), "charge_balanced"),
    (dict(channel=1.5), "channel"),
])
def test_a_bad_biphasic_pulse_is_refused_naming_the_argument(arguments, named):
    values = dict(channel=1, amplitude=20.0, start=0.0, phase_width=0.2) | arguments
    with pytest.raises(InvalidArgumentError, match=named):
        BiphasicPulse(**values)


def test_an_unbalanced_pulse_asked_to_be_balanced_is_refused_with_its_charges():
    with pytest.raises(InvalidArgumentError, match="an unbalanced biphasic pulse asked to be charge-balanced") as error:
        BiphasicPulse(0, 20.0, 0.0, 0.2, second_width=0.4)
    assert "4 nC" in str(error.value) and "8 nC" in str(error.value)
    BiphasicPulse(0, 20.0, 0.0, 0.2, second_amplitude=20.0 * 0.2 / 0.3, second_width=0.3)  # balanced to 1e-9


@pytest.mark.parametrize("build, message", [
    (lambda p: PulseTrain(p, 3, period=0.4), "a pulse wider than its period"),
    (lambda p: PulseTrain(p, 3, rate_hz=5000.0), "a pulse wider than its period"),
    (lambda p: PulseTrain(p, 0, period=10.0), "count"),
    (lambda p: PulseTrain(p, 2.0, period=10.0), "count"),
    (lambda p: PulseTrain(p, 3), "period"),
    (lambda p: PulseTrain(p, 3, period=-1.0), "period"),
    (lambda p: PulseTrain(p, 3, rate_hz=0.0), "rate_hz"),
    (lambda p: PulseTrain(p, 3, period=10.0, rate_hz=50.0), "disagree"),
    (lambda p: PulseTrain("1:2:3:4", 3, period=10.0), "pulse"),
    (lambda p: PulseTrain(Pulse(0, 1.0, 0.0, 0.0), 3, period=10.0), "pulse.width"),
])
def test_a_bad_train_is_refused_naming_the_argument(build, message):
    with pytest.raises(InvalidArgumentError, match=message):
        build(BiphasicPulse(0, 20.0, 0.0, 0.2, 0.1))  # 0.5 ms wide


@pytest.mark.parametrize("stimuli, step, message", [
    ([BiphasicPulse(0, 5.0, 0.05, 0.2)], 0.1, r"stimuli\[0\]\.start = 0.05 ms .* multiples of the integration step"),
    ([BiphasicPulse(0, 5.0, 1.5, 0.5)], 1.0, r"stimuli\[0\]\.start = 1.5 ms .* use step=0.5"),
    ([Pulse(1, 5.0, 0.0, 1.0), BiphasicPulse(0, 5.0, 0.0, 0.3)], 0.2, r"stimuli\[1\]\.phase_width .* use step=0.1"),
    ([BiphasicPulse(0, 5.0, 0.0, 0.2, 0.5)], 0.2, r"interphase_gap .* use step=0.1"),
    ([PulseTrain(BiphasicPulse(0, 5.0, 0.0, 0.2), 3, rate_hz=3.0)], 0.1, r"stimuli\[0\]\.period = 333.333"),
    ([PulseTrain(Pulse(0, 5.0, 0.5, 1.0), 3, period=2.0)], 1.0, r"stimuli\[0\]\.pulse\.start .* use step=0.5"),
    ([Pulse(0, 5.0, 1.25, 0.5)], 0.1, r"stimuli\[0\]\.start = 1.25"),
    ([BiphasicPulse(0, 5.0, 9.0, 0.6)], 0.1, r"stimuli\[0\] ends at 10.2 ms, after the end of the window"),
    ([PulseTrain(BiphasicPulse(0, 5.0, 0.0, 1.0), 4, period=3.0)], 0.1, r"stimuli\[0\] ends at 11 ms"),
    ([BiphasicPulse(9, 5.0, 0.0, 0.2)], 0.1, r"stimuli\[0\]\.channel 9 is not on this MEA"),
    (["0:5:0:0.2"], 0.1, r"stimuli\[0\] must be"),
    (BiphasicPulse(0, 5.0, 0.0, 0.2), 0.1, "stimuli must be a list"),
    ([], 0.3, "step must be one of"),
    ([], 0.05, "step must be one of"),
])
def test_electrode_inputs_refuses_off_grid_or_misplaced_stimuli(stimuli, step, message):
    with pytest.raises(InvalidArgumentError, match=message):
        electrode_inputs(stimuli, 10.0, CHANNELS, step=step)


@pytest.mark.parametrize("duration", [0, -1.0, math.nan, "10"])
def test_electrode_inputs_refuses_a_bad_duration(duration):
    with pytest.raises(InvalidArgumentError, match="duration"):
        electrode_inputs([], duration, CHANNELS, step=0.1)


@pytest.mark.parametrize("text, expected", [
    ("5:20:100:0.2", BiphasicPulse(5, 20.0, 100.0, 0.2)),
    ("5:20:100:0.2:0.1", BiphasicPulse(5, 20.0, 100.0, 0.2, 0.1)),
    ("5:-20:100:0.2", BiphasicPulse(5, 20.0, 100.0, 0.2, cathodic_first=False)),
    ("5:20:100:0.2:0:10:0.4", BiphasicPulse(5, 20.0, 100.0, 0.2, second_amplitude=10.0, second_width=0.4)),
])
def test_biphasic_parse_and_round_trip(text, expected):
    assert BiphasicPulse.parse(text) == expected
    assert BiphasicPulse.parse(expected.to_text()) == expected


@pytest.mark.parametrize("text, expected", [
    ("5:20:100:0.2:0.1 x 10 @ 20Hz", PulseTrain(BiphasicPulse(5, 20.0, 100.0, 0.2, 0.1), 10, rate_hz=20.0)),
    ("5:20:100:0.2x10@20", PulseTrain(BiphasicPulse(5, 20.0, 100.0, 0.2), 10, period=50.0)),
    ("5:20:100:0.2 x 3 @ 0.7ms", PulseTrain(BiphasicPulse(5, 20.0, 100.0, 0.2), 3, period=0.7)),
])
def test_train_parse_and_round_trip(text, expected):
    assert PulseTrain.parse(text) == expected
    assert PulseTrain.parse(expected.to_text()) == expected


def test_round_trips_keep_awkward_floats_and_monophasic_trains():
    pulse = BiphasicPulse(1, 0.1 + 0.2, 1 / 3, 0.1 + 0.2)
    assert BiphasicPulse.parse(pulse.to_text()) == pulse
    train = PulseTrain(Pulse(2, -3.5, 1.0, 2.0), 5, rate_hz=3.0)
    assert PulseTrain.parse(train.to_text(), pulse=Pulse) == train
    assert Pulse.parse(Pulse(2, -3.5, 1.0, 2.0).to_text()) == Pulse(2, -3.5, 1.0, 2.0)


@pytest.mark.parametrize("text", ["5:20:100", "5:20:100:0.2:0.1:3", "a:20:100:0.2", "5:0:100:0.2", "5:20:-1:0.2"])
def test_biphasic_parse_refuses_bad_text(text):
    with pytest.raises(InvalidArgumentError):
        BiphasicPulse.parse(text)


@pytest.mark.parametrize("text", ["5:20:100:0.2", "5:20:100:0.2 x @ 20", "5:20:100:0.2 x 3 @ 20kHz",
                                  "5:20:100:0.2 x 0 @ 20", "5:20:100:0.2 x 3 @ 1.2.3"])
def test_train_parse_refuses_bad_text(text):
    with pytest.raises(InvalidArgumentError):
        PulseTrain.parse(text)
