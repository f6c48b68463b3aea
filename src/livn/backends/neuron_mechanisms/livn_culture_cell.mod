COMMENT
One neuron of livn's culture model (livn.models.CultureModel) as a NEURON point process.

The cell's state lives here, not in the host section: the Izhikevich membrane
(vm in mV, u in mV/ms), the AMPA and GABA_A conductances (nS), the
Ornstein-Uhlenbeck background current (nA) and the electrode current (nA).
The host section is only a place for the point process; its own voltage is unused.

Integration step k (dt ms, t_k = k dt) runs in the middle of NEURON's fixed step
from t_k to t_(k+1): in the BREAKPOINT block, which NEURON evaluates for the
current into the host section (zero) at t = t_k + dt/2. In the order the brian2
backend uses:

  1. the conductance (nS) that arrived with the events of step k - 1 is added (pending_*);
     with `record_currents` on, the synaptic currents of the state at t_k are computed
     (i_ampa = 1e-3 g_ampa (e_ampa - vm), i_gaba likewise, nA), so the value a Vector
     records at the end of step k is the current at t_k;
  2. one Euler(-Maruyama) step of the membrane, conductance and noise equations,
     all right-hand sides from the state at the start of the step;
  3. if vm >= v_peak: the cell spikes "in step k": net_event at t = t_k + dt/2,
     vm <- c and u <- u + d, and, if the cell has plastic inputs, a self-event
     (flag 1) at t_k + 11/12 dt for the postsynaptic side of plasticity.

Python gives each synapse (NetCon) the delay (D + 1/3) dt for an axonal delay of
D steps, so a spike of step j arrives at t_(j+D) + 5/6 dt: after step j + D has
run, before it ends. NEURON delivers the events of (t_k + dt/2, t_(k+1)] after the
step's update and before its fixed step returns, in time order: first the
arrivals of step k (t_k + 5/6 dt), then the postsynaptic self-events of step k
(t_k + 11/12 dt). So every event of step k is handled within step k, also the
last step of a run, with at least dt/12 of margin for rounding; NET_RECEIVE takes
the step from the target cell's count of steps (`steps`), not from t, which
drifts from k dt as NEURON sums its half steps. (Stamped at the end of the step, as a NEURON spike would
be, a spike with a one-step delay could not arrive before step k + 1 ends:
NEURON takes neither a net_event before the current t nor, between MPI ranks, a
NetCon delay under dt.)

Synaptic events carry the NetCon's weight vector (see NET_RECEIVE): the weight
(nS); the receptor (0 AMPA with Tsodyks-Markram depression, 1 GABA_A); the
release resource x of an AMPA synapse and the step of its last arrival
(depression is tracked per synapse at arrival, exactly as brian2 does); and the
synapse's long-term plasticity (livn.models.plasticity): the traces a_pre and
a_post (dimensionless) with the steps they were last updated at, the flag
`plastic` and the coefficients of the update equations (tau_pre, tau_post in ms;
w_max, pre_offset, pre_c, post_c in nS; pre_w, post_w dimensionless). A trace
decays by exp(-(steps elapsed) dt / tau) between its updates. If `plastic`:

  - arrival in step k: after the conductance increment (w x for AMPA, w for
    GABA_A, with w before this update), a_pre <- a_pre decayed to step k, plus 1;
    and with a_post decayed to step k (without the postsynaptic spike of step k)
    w <- clip(w + pre_offset + (pre_w w + pre_c) a_post, 0, w_max);
  - postsynaptic spike in step k (self-event, for every plastic NetCon onto the
    cell): a_post <- a_post decayed to step k, plus 1; and with a_pre decayed to
    step k (this step's arrivals included) w <- clip(w + (post_w w + post_c) a_pre, 0, w_max).

The NET_RECEIVE INITIAL block (run by finitialize) resets x and the traces, not
the weight or the coefficients: learned weights survive livn's clear().

Arrivals are rounded to multiples of 2^-32 nS and summed in `pending_*` before
they reach the conductance, so the sum is exact: events arriving in the same
step give bit-identical conductances in whatever order they are delivered, which
is what makes the spikes (and, each synapse's state being its own, the weights)
independent of the number of MPI ranks.

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
    NONSPECIFIC_CURRENT i_host
    RANGE a, b, c, d, vm_rest, u_rest
    RANGE vm, u, g_ampa, g_gaba, i_noise, i_stim, pending_ampa, pending_gaba, spare_normal, has_spare
    RANGE steps, plastic_inputs, i_ampa, i_gaba
    GLOBAL capacitance, v_peak, e_ampa, e_gaba, tau_ampa, tau_gaba
    GLOBAL tau_noise, noise_mean, noise_std, tau_rec, release_fraction, record_currents
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
    plastic_inputs = 0  : number of plastic synapses onto the cell (set from Python)
    record_currents = 0 : 1 while Python records synaptic currents (i_ampa, i_gaba)
}

ASSIGNED {
    vm                  : mV
    u                   : mV/ms
    g_ampa              : nS
    g_gaba              : nS
    i_noise             : nA
    i_stim              : nA, set from Python at every 1 ms stimulus row
    pending_ampa        : nS arrived with the events of the last step
    pending_gaba        : nS
    spare_normal        : the second normal of the last polar-method pair
    has_spare           : 1 if spare_normal is still unused
    steps               : integration steps done since finitialize (step k ends with steps = k + 1)
    i_ampa              : nA, AMPA current at the start of the last step (only with record_currents)
    i_gaba              : nA, GABA_A current at the start of the last step (only with record_currents)
    i_host      (nA)    : current into the host section: always 0
    g_host      (uS)    : its conductance: 0
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
    steps = 0
    i_ampa = 0
    i_gaba = 0
    random_setseq(noise_stream, 0)
}

BREAKPOINT {
    : NEURON's nrn_cur: once per fixed step, in the middle of it (t = (k + 1/2) dt), for all cells in
    : one loop; finitialize also calls it, at t = 0, when no step is due. The current into the host
    : section is zero; CONDUCTANCE makes NEURON evaluate this block once per step, not twice.
    CONDUCTANCE g_host
    if (t > 0.25 * dt) {
        advance()
    }
    i_host = 0
    g_host = 0
}

PROCEDURE advance() {
    LOCAL i_syn, dv, du, dg_ampa, dg_gaba, di_noise, kick
    g_ampa = g_ampa + pending_ampa
    g_gaba = g_gaba + pending_gaba
    pending_ampa = 0
    pending_gaba = 0
    if (record_currents) {
        i_ampa = 1e-3 * g_ampa * (e_ampa - vm)
        i_gaba = 1e-3 * g_gaba * (e_gaba - vm)
    }
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
    steps = steps + 1
    if (vm >= v_peak) {
        vm = c
        u = u + d
        emit_spike()
    }
}

PROCEDURE emit_spike() {
    : NMODL allows net_event and net_send only in NET_RECEIVE (and net_send in INITIAL); the
    : spike is detected during the step, so both are called here as NET_RECEIVE's code calls them.
    : The self-event has no weight vector: NET_RECEIVE reads none for flag 1.
VERBATIM
    Point_process* _cell = _ppvar[1].get<Point_process*>();
    net_event(_cell, t);
    if (plastic_inputs > 0) {
        net_send(_tqitem, (double*) 0, _cell, t + 5.0 / 12.0 * _nt->_dt, 1.0);
    }
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

FUNCTION clipped(w, w_max) {
    : w (nS) clipped to [0, w_max]
    if (w < 0) {
        clipped = 0
    } else if (w > w_max) {
        clipped = w_max
    } else {
        clipped = w
    }
}

NET_RECEIVE(weight, receptor, x, last_arrival, plastic, a_pre, a_post, last_pre, last_post,
            tau_pre, tau_post, w_max, pre_offset, pre_w, pre_c, post_w, post_c) {
    : weight, w_max, pre_offset, pre_c, post_c: nS; tau_pre, tau_post: ms; last_*: integration steps
    LOCAL k
    INITIAL {
        x = 1
        last_arrival = 0
        a_pre = 0
        a_post = 0
        last_pre = 0
        last_post = 0
    }
    k = steps - 1  : the step of this event: the target cell has done it (events come after its update)
    if (flag == 0) {
        : a presynaptic spike arriving in step k, at (k + 5/6) dt
        if (receptor == 0) {
            x = 1 - (1 - x) * exp(-(k - last_arrival) * dt / tau_rec)
            pending_ampa = pending_ampa + quantized(weight * x)
            x = x * (1 - release_fraction)
            last_arrival = k
        } else {
            pending_gaba = pending_gaba + quantized(weight)
        }
        if (plastic) {
            a_pre = a_pre * exp(-(k - last_pre) * dt / tau_pre) + 1
            last_pre = k
            weight = clipped(weight + pre_offset + (pre_w * weight + pre_c) * a_post * exp(-(k - last_post) * dt / tau_post), w_max)
        }
    } else if (flag == 1) {
        : this cell spiked in step k (event at (k + 11/12) dt): after that step's arrivals
        FOR_NETCONS(w, rec, xr, la, pl, apre, apost, lpre, lpost, tpre, tpost, wmax, poff, pw, pc, qw, qc) {
            if (pl) {
                apost = apost * exp(-(k - lpost) * dt / tpost) + 1
                lpost = k
                w = clipped(w + (qw * w + qc) * apre * exp(-(k - lpre) * dt / tpre), wmax)
            }
        }
    } else {
        : never sent; registers this point process as a spike source for NetCon (net_event)
        : and gives it the self-event slot that emit_spike uses (net_send)
        net_event(t)
        net_send(0, 2)
    }
}
