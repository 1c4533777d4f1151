"""gobg's OpenMM energy worker: a hashicorp/go-plugin plugin served over gRPC.

The Go host (package github.com/gobg/gobg/plugin) starts this script as
`python -u server.py ARGS`, with go-plugin's magic cookie in the environment.
The worker builds one OpenMM System and one Context and then answers the
gobg.energy.v1.Energy service (plugin/proto/energy.proto) until it is told to
shut down, its parent goes away, or it is killed. Started with --md, its
Context holds a LangevinMiddleIntegrator instead and it also answers the
gobg.energy.v1.MD service: minimisation, velocities, streamed runs and
checkpoints (its Energy service then refuses Evaluate, which would overwrite
the simulation's positions). When OpenMM cannot build the System or Context
from the arguments (a residue without a template, an unreadable PDB, an
unknown platform), the worker serves all the same and answers every call
with FAILED_PRECONDITION and a one-line cause, which the host reports as
that cause (plugin.ErrInput) rather than as a worker that died.

go-plugin's side of the contract, which this file implements by hand because
go-plugin has no Python library:
  * refuse to run without the magic cookie (a plugin is not a command);
  * serve on 127.0.0.1:0 and print exactly one handshake line
    `1|APP_VERSION|tcp|127.0.0.1:PORT|grpc` on the real stdout, and nothing
    else on stdout ever (stdout is pointed at stderr before anything can print);
  * grpc.health.v1 reports SERVING for service "plugin";
  * plugin.GRPCController/Shutdown stops the server;
  * plugin.GRPCStdio/StreamStdio is served as an empty stream (our output goes
    through the stderr pipe) so that the host does not warn about its absence.

Configuration comes from command-line flags; each flag falls back to an
environment variable GOBG_OPENMM_<FLAG> (upper case, '-' as '_').

Units are OpenMM's: positions in nm, energies in kJ/mol, forces in kJ/mol/nm.
"""

import argparse
import logging
import os
import signal
import sys
import threading

# Keep the real stdout for the handshake and point everything else at stderr
# before any import can print: go-plugin reads stdout line by line and treats
# the first line as the handshake.
_HANDSHAKE_OUT = sys.stdout
sys.stdout = sys.stderr

PROTOCOL_VERSION = 1  # gobg.energy.v1; must match plugin.ProtocolVersion in Go
MD_PROTOCOL_VERSION = 1  # the MD service; must match plugin.MDProtocolVersion in Go
APP_PROTOCOL_VERSION = 1  # go-plugin's HandshakeConfig.ProtocolVersion
COOKIE_KEY = "GOBG_ENERGY_PLUGIN"
COOKIE_VALUE = "b0ltzmann-openmm-energy"
MAX_MESSAGE = 1 << 30  # 1 GiB, far above gRPC's 4 MB default
HEALTH_SERVICE = "plugin"

log = logging.getLogger("gobg.openmm")


class _GoPluginFormatter(logging.Formatter):
    """Prefixes lines with [LEVEL], which go-plugin maps to its log levels."""

    _names = {"WARNING": "WARN", "CRITICAL": "ERROR"}

    def format(self, record):
        level = self._names.get(record.levelname, record.levelname)
        return "[%s] %s" % (level, super().format(record))


def _env_default(name, default=None):
    return os.environ.get("GOBG_OPENMM_" + name.upper().replace("-", "_"), default)


def _pin_to_one_cpu():
    """Keeps this worker on one CPU. OpenMM's CPU platform hands every step
    to a pool thread even with Threads=1; measured on these 2-core virtual
    machines, when the other core is idle each hand-off waits for that core
    to wake up, and alanine dipeptide MD ran at 198 ns/day instead of 2392
    ns/day pinned. Workers spread over the allowed CPUs by process id."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpus[os.getpid() % len(cpus)]})
    except (AttributeError, OSError):  # not Linux, or not allowed: run unpinned
        pass


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pdb", default=_env_default("pdb"),
                   help="PDB file whose topology the force field is applied to")
    p.add_argument("--system-xml", default=_env_default("system-xml"),
                   help="serialized OpenMM System (instead of --pdb)")
    p.add_argument("--forcefield", default=_env_default("forcefield", "amber99sbildn.xml,amber99_obc.xml"),
                   help="comma-separated force-field files")
    p.add_argument("--constraints", default=_env_default("constraints", "None"),
                   choices=["None", "HBonds", "AllBonds", "HAngles"],
                   help="constraints of createSystem (they remove constrained bond terms from the energy)")
    p.add_argument("--rigid-water", default=_env_default("rigid-water", "false"),
                   choices=["true", "false"])
    p.add_argument("--platform", default=_env_default("platform", "CPU"),
                   help="OpenMM platform: Reference, CPU, CUDA, OpenCL, HIP")
    p.add_argument("--threads", type=int, default=int(_env_default("threads", "0")),
                   help="CPU platform threads (0: OpenMM's default)")
    p.add_argument("--precision", default=_env_default("precision", ""),
                   help="Precision property of GPU platforms (single, mixed, double)")
    p.add_argument("--hydrogen-mass", type=float, default=float(_env_default("hydrogen-mass", "0")),
                   help="hydrogen mass in amu, the difference taken from the bonded heavy atom "
                        "(hydrogen mass repartitioning; 0: the force field's masses)")
    p.add_argument("--md", action="store_true", default=_env_default("md", "false") == "true",
                   help="run molecular dynamics (the MD service) with a LangevinMiddleIntegrator")
    # No default: the host always passes the temperature (plugin.MDConfig,
    # whose default is gobg's one, energy.DefaultTemperature).
    p.add_argument("--temperature", type=float, default=_env_default("temperature"),
                   help="MD: heat-bath temperature in K (required with --md)")
    p.add_argument("--friction", type=float, default=float(_env_default("friction", "1")),
                   help="MD: friction coefficient in 1/ps")
    p.add_argument("--timestep-ps", type=float, default=float(_env_default("timestep-ps", "0.002")),
                   help="MD: time step in ps")
    p.add_argument("--seed", type=int, default=int(_env_default("seed", "0")),
                   help="MD: the integrator's random number seed (0: OpenMM picks one)")
    p.add_argument("--log-level", default=_env_default("log-level", "INFO"))
    p.add_argument("--host-pid", type=int, default=0,
                   help="exit when this process is no longer our parent (0: the parent at start)")
    args = p.parse_args(argv)
    if bool(args.pdb) == bool(args.system_xml):
        p.error("give exactly one of --pdb and --system-xml")
    if args.md and not args.pdb:
        p.error("--md needs --pdb: the simulation starts from its positions")
    if args.hydrogen_mass < 0 or (args.hydrogen_mass > 0 and args.system_xml):
        p.error("--hydrogen-mass must be >= 0 and needs --pdb")
    if args.md and not (args.temperature is not None and args.temperature > 0
                        and args.friction >= 0 and args.timestep_ps > 0):
        p.error("--md needs --temperature > 0, --friction >= 0 and --timestep-ps > 0")
    if not -(1 << 31) <= args.seed < (1 << 31):
        p.error("--seed must fit a 32-bit integer")
    return args


class SystemBuildError(Exception):
    """OpenMM cannot build the System (or its Context) from the worker's
    inputs: a fault of the input, not of the worker. The message is one line
    that names the cause; the worker keeps serving and answers every call
    with it, so that the host reports it instead of a dead process."""


def _first_line(e):
    """The first line of an exception's message (OpenMM's run to several
    sentences and a URL; the first says what went wrong)."""
    lines = str(e).strip().splitlines() or [type(e).__name__]
    return lines[0].strip()


def _create_system_cause(path, ff, files, topology, e):
    """One line for a failed createSystem. For residues without a template
    (an unknown or misnamed residue, missing atoms) it names each one as in
    the PDB file, residue name, number and chain, which OpenMM's message
    does not (it gives the residue's 0-based index), and keeps OpenMM's
    diagnosis of the atoms."""
    try:
        unmatched = ff.getUnmatchedResidues(topology)
    except Exception:  # the diagnosis is a bonus; fall back to OpenMM's words
        unmatched = []
    if not unmatched:
        return "%s: cannot build the System with %s: %s" % (path, ", ".join(files), _first_line(e))
    names = ", ".join("%s %s in chain %s" % (r.name, r.id, r.chain.id or "(blank)") for r in unmatched[:5])
    if len(unmatched) > 5:
        names += " and %d more" % (len(unmatched) - 5)
    detail = str(e).split(".  ")
    why = ""
    if len(detail) > 1 and detail[0].startswith("No template found"):
        sentence = detail[1].strip().rstrip(".")
        why = ": " + sentence[:1].lower() + sentence[1:]
    return "%s: no template in %s for residue%s %s%s" % (
        path, ", ".join(files), "s" if len(unmatched) > 1 else "", names, why)


class Worker:
    """One OpenMM Context, reused for every request (a new Context costs
    seconds on some platforms); requests are serialised by a lock because a
    Context holds one set of positions."""

    def __init__(self, args):
        import openmm
        import openmm.app as app
        import openmm.unit as unit

        self.openmm = openmm
        self.args = args
        self.md = args.md
        self.force_field = []
        if args.system_xml:
            self.source = args.system_xml
            try:
                with open(args.system_xml) as f:
                    self.system = openmm.XmlSerializer.deserialize(f.read())
            except Exception as e:
                raise SystemBuildError("%s: not a serialized OpenMM System: %s" % (args.system_xml, _first_line(e)))
        else:
            self.source = args.pdb
            try:
                pdb = app.PDBFile(args.pdb)
            except Exception as e:
                raise SystemBuildError("%s: OpenMM cannot read it: %s" % (args.pdb, _first_line(e)))
            self.force_field = [s.strip() for s in args.forcefield.split(",") if s.strip()]
            try:
                ff = app.ForceField(*self.force_field)
            except Exception as e:
                raise SystemBuildError("force field %s: %s" % (", ".join(self.force_field), _first_line(e)))
            constraints = {"None": None, "HBonds": app.HBonds, "AllBonds": app.AllBonds,
                           "HAngles": app.HAngles}[args.constraints]
            hmass = args.hydrogen_mass * unit.amu if args.hydrogen_mass > 0 else None
            try:
                self.system = ff.createSystem(pdb.topology, nonbondedMethod=app.NoCutoff,
                                              constraints=constraints,
                                              rigidWater=args.rigid_water == "true",
                                              hydrogenMass=hmass)
            except Exception as e:
                raise SystemBuildError(_create_system_cause(args.pdb, ff, self.force_field, pdb.topology, e))
            self.initial_positions = pdb.positions
        self.n = self.system.getNumParticles()

        try:
            platform = openmm.Platform.getPlatformByName(args.platform)
        except Exception:
            names = [openmm.Platform.getPlatform(i).getName() for i in range(openmm.Platform.getNumPlatforms())]
            raise SystemBuildError("no platform %r (this OpenMM has %s)" % (args.platform, ", ".join(names)))
        props = {}
        if args.threads > 0 and args.platform == "CPU":
            props["Threads"] = str(args.threads)
        if args.threads == 1 and args.platform == "CPU":
            _pin_to_one_cpu()
        if args.precision and args.platform in ("CUDA", "OpenCL", "HIP"):
            props["Precision"] = args.precision
        if self.md:
            # Parameters in OpenMM's units: K, 1/ps, ps. The seed must be set
            # before the Context exists: the platform reads it at creation.
            self.integrator = openmm.LangevinMiddleIntegrator(args.temperature, args.friction, args.timestep_ps)
            self.integrator.setRandomNumberSeed(args.seed)
        else:
            # The integrator is never stepped; a Context needs one.
            self.integrator = openmm.VerletIntegrator(0.001)
        try:
            self.context = openmm.Context(self.system, self.integrator, platform, props)
        except Exception as e:
            raise SystemBuildError("%s: OpenMM cannot create a Context on platform %s: %s"
                                   % (self.source, args.platform, _first_line(e)))
        self.platform = self.context.getPlatform().getName()
        self.properties = {name: self.context.getPlatform().getPropertyValue(self.context, name)
                           for name in self.context.getPlatform().getPropertyNames()}
        self.lock = threading.Lock()
        self._xml = None
        if self.md:
            self.context.setPositions(self.initial_positions)
            self._apply_constraints()
            self.dof = self._degrees_of_freedom()

    def check(self, context):
        """Lets a call through: this worker has its System (see _Broken)."""

    def _apply_constraints(self):
        if self.system.getNumConstraints() > 0:
            self.context.applyConstraints(self.integrator.getConstraintTolerance())

    def _degrees_of_freedom(self):
        """What the kinetic energy is shared among: 3 per particle with mass,
        less one per constraint, less 3 when the centre of mass is held."""
        n = sum(3 for i in range(self.n) if self.system.getParticleMass(i)._value > 0)
        n -= self.system.getNumConstraints()
        if any(isinstance(self.system.getForce(i), self.openmm.CMMotionRemover)
               for i in range(self.system.getNumForces())):
            n -= 3
        return n

    def md_state(self, positions=True, velocities=False, checkpoint=False):
        """The current state as a dict of MDFrame fields; call with the lock held."""
        import numpy as np

        state = self.context.getState(getPositions=positions, getVelocities=velocities, getEnergy=True)
        f = dict(step=state.getStepCount(), time_ps=state.getTime()._value,
                 potential_kj_mol=state.getPotentialEnergy()._value,
                 kinetic_kj_mol=state.getKineticEnergy()._value)
        if positions:
            f["positions"] = np.asarray(state.getPositions(asNumpy=True)._value, dtype="<f8").tobytes()
        if velocities:
            f["velocities"] = np.asarray(state.getVelocities(asNumpy=True)._value, dtype="<f8").tobytes()
        if checkpoint:
            f["checkpoint"] = self.context.createCheckpoint()
        return f

    def minimize(self, tolerance, max_iterations):
        with self.lock:
            # OpenMM reads a bare number as kJ/mol/nm.
            self.openmm.LocalEnergyMinimizer.minimize(self.context, tolerance if tolerance > 0 else 10.0,
                                                      max(0, max_iterations))
            return self.md_state()

    def set_positions(self, x):
        with self.lock:
            self.context.setPositions(x)
            self._apply_constraints()
            return self.md_state()

    def set_velocities(self, temperature, seed):
        with self.lock:
            self.context.setVelocitiesToTemperature(temperature, seed)
            return self.md_state(positions=False)

    def get_state(self, velocities):
        with self.lock:
            return self.md_state(velocities=velocities)

    def create_checkpoint(self):
        with self.lock:
            return self.md_state(positions=False, checkpoint=True)

    def load_checkpoint(self, data):
        with self.lock:
            self.context.loadCheckpoint(data)
            return self.md_state()

    def run(self, steps, interval, checkpoint_every, positions, is_active):
        """Yields a frame dict after every `interval` steps. The lock is held
        for the whole run; closing the generator (gRPC does when the caller
        cancels) releases it. The caller's cancellation is seen between
        frames, so the Context may end one frame past the last one sent."""
        import numpy as np

        with self.lock:
            for k in range(steps // interval):
                if not is_active():
                    return
                self.integrator.step(interval)
                f = self.md_state(positions=positions,
                                  checkpoint=checkpoint_every > 0 and (k + 1) % checkpoint_every == 0)
                if not np.isfinite(f["potential_kj_mol"]) or not np.isfinite(f["kinetic_kj_mol"]):
                    raise FloatingPointError("non-finite energy at step %d: potential %r, kinetic %r"
                                             % (f["step"], f["potential_kj_mol"], f["kinetic_kj_mol"]))
                yield f

    def system_xml(self):
        with self.lock:
            if self._xml is None:
                self._xml = self.openmm.XmlSerializer.serialize(self.system)
            return self._xml

    def evaluate(self, positions, want_forces, is_active):
        """Energies [B], forces [B,N,3] or None, and per-sample error strings.

        A sample whose input or output is not finite gets an error string and
        does not fail the batch; `is_active` lets a cancelled call stop early.
        """
        import numpy as np

        b = positions.shape[0]
        energies = np.full(b, np.nan)
        forces = np.zeros((b, self.n, 3)) if want_forces else None
        errors = [""] * b
        with self.lock:
            for i in range(b):
                if not is_active():
                    return None, None, None
                x = positions[i]
                finite = np.isfinite(x)
                if not finite.all():
                    atom = int(np.argwhere(~finite.all(axis=1))[0][0])
                    errors[i] = "non-finite position (atom %d: %r)" % (atom, x[atom].tolist())
                    continue
                try:
                    self.context.setPositions(x)
                    state = self.context.getState(getEnergy=True, getForces=want_forces)
                except Exception as e:  # OpenMM refuses some inputs; keep the rest of the batch
                    errors[i] = "openmm: %s" % e
                    continue
                # _value avoids unit conversion: OpenMM reports kJ/mol and kJ/mol/nm.
                e = state.getPotentialEnergy()._value
                energies[i] = e
                if not np.isfinite(e):
                    errors[i] = "non-finite energy %r" % e
                    continue
                if want_forces:
                    f = state.getForces(asNumpy=True)._value
                    if not np.isfinite(f).all():
                        errors[i] = "non-finite force"
                        continue
                    forces[i] = f
        return energies, forces, errors


class _Broken:
    """Stands in for a Worker whose System could not be built: every call
    is refused with FAILED_PRECONDITION and the one-line cause."""

    md = False

    def __init__(self, cause):
        self.cause = cause

    def check(self, context):
        import grpc
        context.abort(grpc.StatusCode.FAILED_PRECONDITION, self.cause)


def _load_stubs():
    """Imports the gRPC stubs committed beside this file. If they do not fit
    the installed grpcio/protobuf (their version checks raise), regenerate
    them from energy.proto with grpc_tools into a private directory."""
    here = os.path.dirname(os.path.abspath(__file__))
    if here not in sys.path:
        sys.path.insert(0, here)
    try:
        import energy_pb2
        import energy_pb2_grpc
        return energy_pb2, energy_pb2_grpc
    except Exception as e:  # version mismatch of generated code
        log.warning("committed stubs unusable (%s); regenerating with grpc_tools", e)
    import importlib
    import shutil
    import tempfile
    from grpc_tools import protoc
    proto = os.path.join(here, "energy.proto")
    if not os.path.exists(proto):
        proto = os.path.join(here, "..", "proto", "energy.proto")
    out = tempfile.mkdtemp(prefix="gobg-stubs-")
    try:
        rc = protoc.main(["protoc", "-I" + os.path.dirname(proto), "--python_out=" + out,
                          "--grpc_python_out=" + out, proto])
        if rc != 0:
            raise RuntimeError("grpc_tools.protoc failed on %s" % proto)
        sys.path.insert(0, out)
        for m in ("energy_pb2", "energy_pb2_grpc"):
            sys.modules.pop(m, None)
        mods = importlib.import_module("energy_pb2"), importlib.import_module("energy_pb2_grpc")
    finally:
        # The modules are in memory now; leave no files behind.
        if out in sys.path:
            sys.path.remove(out)
        shutil.rmtree(out, ignore_errors=True)
    return mods


def serve(args):
    import grpc
    import numpy as np
    from concurrent import futures
    from grpc_health.v1 import health, health_pb2, health_pb2_grpc

    pb, pb_grpc = _load_stubs()
    try:
        worker = Worker(args)
    except SystemBuildError as e:
        # Serve anyway: every call is answered with the cause (see _Broken),
        # which reaches the host as a gRPC status rather than as a process
        # that died before its handshake with a traceback on stderr.
        # INFO: the host reports the cause itself, once.
        log.info("cannot build the System: %s", e)
        worker = _Broken(str(e))
    else:
        log.info("system from %s: %d atoms, platform %s %s", worker.source, worker.n,
                 worker.platform, worker.properties)
    if worker.md:
        log.info("md: LangevinMiddle %g K, %g/ps, %g ps, seed %d, constraints %s, hydrogen mass %g amu",
                 args.temperature, args.friction, args.timestep_ps, worker.integrator.getRandomNumberSeed(),
                 args.constraints, args.hydrogen_mass)
    stopping = threading.Event()

    class Energy(pb_grpc.EnergyServicer):
        def Info(self, request, context):
            worker.check(context)
            return pb.InfoResponse(
                protocol_version=PROTOCOL_VERSION, num_atoms=worker.n,
                force_field=worker.force_field, platform=worker.platform,
                openmm_version=worker.openmm.__version__, pid=os.getpid(),
                source=worker.source, properties=worker.properties)

        def Evaluate(self, request, context):
            worker.check(context)
            if worker.md:
                context.abort(grpc.StatusCode.FAILED_PRECONDITION,
                              "this worker runs MD (--md); evaluating would overwrite its positions: "
                              "start an energy worker")
            b, n = request.batch_size, worker.n
            if b < 0 or len(request.positions) != b * n * 3 * 8:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                              "positions hold %d bytes; batch %d x %d atoms x 3 x 8 needs %d"
                              % (len(request.positions), b, n, b * n * 24))
            x = np.frombuffer(request.positions, dtype="<f8").reshape(b, n, 3)
            e, f, errs = worker.evaluate(x, request.want_forces, context.is_active)
            if e is None:
                context.abort(grpc.StatusCode.CANCELLED, "cancelled by the caller")
            return pb.EvaluateResponse(
                energies=e.astype("<f8").tobytes(),
                forces=f.astype("<f8").tobytes() if f is not None else b"",
                errors=errs)

        def SystemXML(self, request, context):
            worker.check(context)
            return pb.SystemXMLResponse(xml=worker.system_xml())

    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=8),
        options=[("grpc.max_receive_message_length", MAX_MESSAGE),
                 ("grpc.max_send_message_length", MAX_MESSAGE)])
    pb_grpc.add_EnergyServicer_to_server(Energy(), server)
    pb_grpc.add_MDServicer_to_server(_md_servicer(pb, pb_grpc, worker), server)

    hs = health.HealthServicer()
    hs.set(HEALTH_SERVICE, health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(hs, server)

    def shutdown(request, context):
        log.info("shutdown requested by the host")
        stopping.set()
        threading.Thread(target=server.stop, args=(1.0,), daemon=True).start()
        return b""  # plugin.Empty serialises to no bytes

    def stream_stdio(request, context):
        # Nothing to forward (stderr goes through the pipe); hold the stream
        # open until shutdown so that the host's reader stays quiet.
        stopping.wait()
        return iter(())

    ident = lambda b: b  # noqa: E731 - plugin.Empty needs no parsing
    server.add_generic_rpc_handlers((
        grpc.method_handlers_generic_handler("plugin.GRPCController", {
            "Shutdown": grpc.unary_unary_rpc_method_handler(
                shutdown, request_deserializer=ident, response_serializer=ident)}),
        grpc.method_handlers_generic_handler("plugin.GRPCStdio", {
            "StreamStdio": grpc.unary_stream_rpc_method_handler(
                stream_stdio, request_deserializer=ident, response_serializer=ident)}),
    ))

    port = server.add_insecure_port("127.0.0.1:0")
    if port == 0:
        raise RuntimeError("cannot listen on 127.0.0.1")
    server.start()
    _HANDSHAKE_OUT.write("1|%d|tcp|127.0.0.1:%d|grpc\n" % (APP_PROTOCOL_VERSION, port))
    _HANDSHAKE_OUT.flush()

    _watch_parent(args.host_pid, stopping, server)
    server.wait_for_termination()
    stopping.set()
    log.info("stopped")


def _md_servicer(pb, pb_grpc, worker):
    """The MD service of `worker`. OpenMM's errors (a checkpoint from another
    System, a simulation that blew up) are reported to the caller with the
    step they happened at, and the worker keeps serving."""
    import grpc
    import numpy as np

    def guard(context):
        worker.check(context)
        if not worker.md:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION,
                          "this worker evaluates energies; MD needs a worker started with --md")

    def openmm_call(context, what, fn, *a):
        try:
            return fn(*a)
        except Exception as e:  # OpenMMException and friends: the caller's to handle
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, "openmm: %s: %s" % (what, e))

    def positions_of(context, data):
        n = worker.n
        if len(data) != n * 24:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                          "positions hold %d bytes; %d atoms x 3 x 8 needs %d" % (len(data), n, n * 24))
        x = np.frombuffer(data, dtype="<f8").reshape(n, 3)
        if not np.isfinite(x).all():
            atom = int(np.argwhere(~np.isfinite(x).all(axis=1))[0][0])
            context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                          "non-finite position (atom %d: %r)" % (atom, x[atom].tolist()))
        return x

    class MD(pb_grpc.MDServicer):
        def MDInfo(self, request, context):
            guard(context)
            a = worker.args
            return pb.MDInfoResponse(
                md_protocol_version=MD_PROTOCOL_VERSION, num_atoms=worker.n,
                num_constraints=worker.system.getNumConstraints(), degrees_of_freedom=worker.dof,
                platform=worker.platform, openmm_version=worker.openmm.__version__, pid=os.getpid(),
                constraints=a.constraints, hydrogen_mass_amu=a.hydrogen_mass, temperature_k=a.temperature,
                friction_per_ps=a.friction, timestep_ps=a.timestep_ps,
                seed=worker.integrator.getRandomNumberSeed(), properties=worker.properties,
                force_field=worker.force_field, source=worker.source)

        def Minimize(self, request, context):
            guard(context)
            return pb.MDFrame(**openmm_call(context, "minimize", worker.minimize,
                                            request.tolerance, request.max_iterations))

        def SetPositions(self, request, context):
            guard(context)
            x = positions_of(context, request.positions)
            return pb.MDFrame(**openmm_call(context, "set positions", worker.set_positions, x))

        def SetVelocities(self, request, context):
            guard(context)
            if not request.temperature_k > 0:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                              "temperature %r K is not positive" % request.temperature_k)
            return pb.MDFrame(**openmm_call(context, "set velocities", worker.set_velocities,
                                            request.temperature_k, request.seed))

        def GetState(self, request, context):
            guard(context)
            return pb.MDFrame(**openmm_call(context, "get state", worker.get_state, request.want_velocities))

        def CreateCheckpoint(self, request, context):
            guard(context)
            return pb.MDFrame(**openmm_call(context, "create checkpoint", worker.create_checkpoint))

        def LoadCheckpoint(self, request, context):
            guard(context)
            if not request.checkpoint:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, "empty checkpoint")
            return pb.MDFrame(**openmm_call(context, "load checkpoint", worker.load_checkpoint,
                                            request.checkpoint))

        def Run(self, request, context):
            guard(context)
            steps, every = request.steps, request.report_interval
            if steps <= 0 or every <= 0 or steps % every != 0 or request.checkpoint_every < 0:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                              "run %d steps reporting every %d: both must be positive and the "
                              "interval must divide the steps (checkpoint_every %d >= 0)"
                              % (steps, every, request.checkpoint_every))
            frames = worker.run(steps, every, request.checkpoint_every, not request.no_positions,
                                context.is_active)
            try:
                for f in frames:
                    yield pb.MDFrame(**f)
            except Exception as e:
                log.warning("run failed: %s", e)
                context.abort(grpc.StatusCode.FAILED_PRECONDITION, "openmm: run: %s" % e)
            finally:
                frames.close()  # release the Context now, also when the caller went away

    return MD()


def _watch_parent(host_pid, stopping, server):
    """Exits when the host dies without shutting us down (SIGKILL, crash):
    the worker is then re-parented, and a worker nobody talks to is a leak.
    The host passes its pid because it may die while we are still starting."""
    parent = host_pid or os.getppid()

    def loop():
        while True:
            if os.getppid() != parent:
                log.warning("host process %d is gone; exiting", parent)
                stopping.set()
                server.stop(0)
                return
            if stopping.wait(1.0):
                return

    threading.Thread(target=loop, daemon=True).start()


def main(argv=None):
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_GoPluginFormatter("%(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    if os.environ.get(COOKIE_KEY) != COOKIE_VALUE:
        sys.stderr.write("This is a gobg energy plugin: the gobg host starts it. "
                         "It is not meant to be run by hand.\n")
        return 1
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.getLogger().setLevel(args.log_level.upper())
    # A Ctrl-C at the terminal reaches the whole process group: leave the
    # decision to the host, which shuts its workers down in order.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        serve(args)
    except Exception:
        log.exception("worker failed")
        return 1
    finally:
        sys.stderr.flush()
    # Skip interpreter finalisation (tearing down OpenMM, numpy and gRPC takes
    # a few hundred ms, seconds on a loaded machine): the host waits for the
    # exit, and go-plugin kills a worker that takes more than 2 s.
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
