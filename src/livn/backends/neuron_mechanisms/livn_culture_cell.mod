COMMENT
One neuron of livn's culture model (livn.models.CultureModel) as a NEURON point process.

The cell's state lives here, not in the host section: the Izhikevich membrane
(vm in mV, u in mV/ms), the AMPA and GABA_A conductances (nS), the
Ornstein-Uhlenbeck background current (nA) and the electrode current (nA).
The host section is only a place for the point process; its own voltage is unused.

Once per time step (dt ms, forward Euler, in the order the brian2 backend uses):

  1. conductance arriving with this step's events is added (see NET_RECEIVE);
  2. one Euler(-Maruyama) step of the membrane, conductance and noise equations,
     all right-hand sides from the state at the start of the step;
  3. if vm >= v_peak: the cell spikes (net_event at the end of the step),
     vm <- c and u <- u + d.

Synaptic events carry (weight nS, receptor: 0 AMPA with Tsodyks-Markram
depression, 1 GABA_A). The release resource x of an AMPA synapse lives in the
NetCon, so depression is tracked per synapse at arrival, exactly as brian2 does.
Arrivals are rounded to multiples of 2^-32 nS and summed in `pending_*` before
they reach the conductance, so the sum is exact: events arriving in the same
step give bit-identical conductances in whatever order they are delivered, which
is what makes the spikes independent of the number of MPI ranks.

The noise draws come from this cell's own Random123 stream (ids set from Python
from the seed and the gid), one standard normal per step, so they do not depend
on where the cell lives either. Normals are made in pairs by the polar method
from the stream's uniforms and both are used (NEURON's random_normal discards
the second, which made it the most expensive part of a step).

All parameters are set from Python (livn.backends.neuron) from the CultureModel;
the values below are placeholders.
ENDCOMMENT

NEURON {
    THREADSAFE
    POINT_PROCESS LivnCultureCell
    RANGE a, b, c, d, vm_rest, u_rest
    RANGE vm, u, g_ampa, g_gaba, i_noise, i_stim, pending_ampa, pending_gaba, spare_normal, has_spare
    GLOBAL capacitance, v_peak, e_ampa, e_gaba, tau_ampa, tau_gaba
    GLOBAL tau_noise, noise_mean, noise_std, tau_rec, release_fraction
    RANDOM noise_stream
}

PARAMETER {
    a = 0.02            : 1/ms
    b = 0.2             : 1
    c = -65             : mV
    d = 8               : mV/ms
    vm_rest = -70       : mV, initial vm
    u_rest = -14        : mV/ms, initial u
    capacitance = 0.1   : nF
    v_peak = 30         : mV
    e_ampa = 0          : mV
    e_gaba = -75        : mV
    tau_ampa = 5        : ms
    tau_gaba = 10       : ms
    tau_noise = 5       : ms
    noise_mean = 0      : nA
    noise_std = 0       : nA
    tau_rec = 2000      : ms
    release_fraction = 0.4
}

ASSIGNED {
    vm                  : mV
    u                   : mV/ms
    g_ampa              : nS
    g_gaba              : nS
    i_noise             : nA
    i_stim              : nA, set from Python at every 1 ms stimulus row
    pending_ampa        : nS arriving with this step's events
    pending_gaba        : nS
    spare_normal        : the second normal of the last polar-method pair
    has_spare           : 1 if spare_normal is still unused
}

INITIAL {
    vm = vm_rest
    u = u_rest
    g_ampa = 0
    g_gaba = 0
    i_noise = noise_mean
    pending_ampa = 0
    pending_gaba = 0
    has_spare = 0
    spare_normal = 0
    random_setseq(noise_stream, 0)
}

BREAKPOINT {
    SOLVE advance
}

PROCEDURE advance() {
    LOCAL i_syn, dv, du, dg_ampa, dg_gaba, di_noise, kick
    g_ampa = g_ampa + pending_ampa
    g_gaba = g_gaba + pending_gaba
    pending_ampa = 0
    pending_gaba = 0
    i_syn = 1e-3 * (g_ampa * (e_ampa - vm) + g_gaba * (e_gaba - vm))
    dv = 0.04 * vm * vm + 5 * vm + 140 - u + (i_syn + i_noise + i_stim) / capacitance
    du = a * (b * vm - u)
    dg_ampa = -g_ampa / tau_ampa
    dg_gaba = -g_gaba / tau_gaba
    di_noise = (noise_mean - i_noise) / tau_noise
    kick = noise_std * sqrt(2 / tau_noise) * sqrt(dt) * standard_normal()
    vm = vm + dt * dv
    u = u + dt * du
    g_ampa = g_ampa + dt * dg_ampa
    g_gaba = g_gaba + dt * dg_gaba
    i_noise = i_noise + dt * di_noise + kick
    if (vm >= v_peak) {
        vm = c
        u = u + d
        emit_spike()
    }
}

PROCEDURE emit_spike() {
    : NMODL allows net_event only in NET_RECEIVE; the spike is detected during the
    : step, so it is sent here, through the same call NET_RECEIVE's net_event makes.
VERBATIM
    net_event(_ppvar[1].get<Point_process*>(), t);
ENDVERBATIM
}

FUNCTION standard_normal() {
    LOCAL x, y, w, scale
    if (has_spare) {
        has_spare = 0
        standard_normal = spare_normal
    } else {
        w = 2
        while (w >= 1 || w == 0) {
            x = 2 * random_uniform(noise_stream) - 1
            y = 2 * random_uniform(noise_stream) - 1
            w = x * x + y * y
        }
        scale = sqrt(-2 * log(w) / w)
        spare_normal = y * scale
        has_spare = 1
        standard_normal = x * scale
    }
}

FUNCTION quantized(conductance) {
    : conductance (nS) rounded to a multiple of 2^-32 nS, so that sums of arrivals are exact
    quantized = floor(conductance * 4294967296 + 0.5) / 4294967296
}

NET_RECEIVE(weight, receptor, x, last_arrival (ms)) {
    INITIAL {
        x = 1
        last_arrival = 0
    }
    if (flag == 0) {
        if (receptor == 0) {
            x = 1 - (1 - x) * exp(-(t - last_arrival) / tau_rec)
            pending_ampa = pending_ampa + quantized(weight * x)
            x = x * (1 - release_fraction)
            last_arrival = t
        } else {
            pending_gaba = pending_gaba + quantized(weight)
        }
    } else {
        : never sent; registers this point process as a spike source for NetCon
        net_event(t)
    }
}
