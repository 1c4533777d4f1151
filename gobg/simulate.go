package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gobg/gobg/energy/molecule"
	"github.com/gobg/gobg/internal/atomicfile"
	"github.com/gobg/gobg/plugin"
)

func init() {
	register(&command{
		name:    "simulate",
		summary: "molecular dynamics in OpenMM (Langevin, implicit solvent), resumable",
		usage: `Usage: gobg simulate --pdb FILE --ns T --out DIR [--temperature 300] [--save-ps 1]
       [--timestep-fs 2] [--friction 1] [--hmr 0] [--minimize] [--seed S]
       [--platform CPU] [--threads 1] [--python PY] [--json]

Runs Langevin dynamics (OpenMM's LangevinMiddleIntegrator) of the structure
in FILE with amber99sbildn + amber99_obc (implicit solvent, no cutoff) and
bonds to hydrogen constrained, starting from FILE's positions (minimised with
--minimize) and velocities drawn at --temperature. A frame is saved every
--save-ps picoseconds into DIR (created if missing):
  DIR/traj.dcd       positions of the saved frames (frame k at step (k+1)*interval)
  DIR/energies.csv   frame,potential_kj_mol
  DIR/top.pdb        the topology (and starting structure)
  DIR/meta.json      the settings and progress
  DIR/checkpoint     OpenMM's full state at the last saved frame
The checkpoint is replaced (atomically) after every saved frame. Running the
same command again with the same DIR continues from it: after an interruption
(Ctrl-C, a kill, a crash) the frames already saved are kept and frames saved
after the checkpoint are dropped, so the run continues exactly from its last
checkpoint; with a larger --ns it extends a finished run. A DIR whose
meta.json holds other settings is refused.

--hmr M gives hydrogens a mass of M amu, taken from the atoms they are bonded
to (hydrogen mass repartitioning: M=1.5 allows --timestep-fs 4). --seed
seeds both the velocities and the integrator's random forces (default: a
random seed, recorded in meta.json). With one CPU thread (the default) the
trajectory is bit-reproducible: same seed, same frames, and a resumed run
equals an uninterrupted one; more threads are faster for big systems, but
OpenMM then adds forces in a varying order and runs are not reproducible.

Progress (ns done, ns/day, ETA) goes to stderr; --json prints a summary as
the last line of stdout.

Example:
  gobg simulate --pdb ../shared/data/ala2.pdb --ns 1 --save-ps 1 --out out/ala2-md --seed 1 --json
  gobg simulate --pdb ../shared/data/hp35.pdb --ns 0.1 --hmr 1.5 --timestep-fs 4 --minimize --out out/hp35-md`,
		run: runSimulate,
	})
}

// Files of a simulation directory.
const (
	simTraj       = "traj.dcd"
	simEnergies   = "energies.csv"
	simTop        = "top.pdb"
	simMetaFile   = "meta.json"
	simCheckpoint = "checkpoint"
	simCSVHeader  = "frame,potential_kj_mol"
	// simCheckpointFormat names the layout of DIR/checkpoint: one line of
	// JSON (simCheckpointHeader) and then OpenMM's checkpoint bytes.
	simCheckpointFormat = "gobg-md-checkpoint/1"
)

// simSettings are what a run's frames depend on: a directory's settings must
// equal the command line's for the run to continue there.
type simSettings struct {
	Source          string   `json:"source"`
	SourceSHA256    string   `json:"source_sha256"`
	ForceField      []string `json:"forcefield"`
	Nonbonded       string   `json:"nonbonded"`
	Constraints     string   `json:"constraints"`
	HydrogenMassAMU *float64 `json:"hydrogen_mass_amu"` // null: the force field's masses
	Integrator      string   `json:"integrator"`
	TimestepPS      float64  `json:"timestep_ps"`
	FrictionPerPS   float64  `json:"friction_per_ps"`
	TemperatureK    float64  `json:"temperature_K"`
	Minimized       bool     `json:"minimized"`
	Seed            int32    `json:"seed"`
	Platform        string   `json:"platform"`
	SaveIntervalPS  float64  `json:"save_interval_ps"`
	StepsPerFrame   int64    `json:"steps_per_frame"`
}

// simMeta is DIR/meta.json: the settings, in the shared reference data's
// vocabulary where it has a word for them, and the progress.
type simMeta struct {
	simSettings
	FramesPlanned int     `json:"frames_planned"`
	FramesWritten int     `json:"frames_written"`
	OpenMM        string  `json:"openmm"`
	Threads       int     `json:"threads"`
	WallS         float64 `json:"wall_s"`     // all invocations together
	NsPerDay      float64 `json:"ns_per_day"` // of the latest invocation
	Updated       string  `json:"updated"`
}

// simCheckpointHeader is the first line of DIR/checkpoint.
type simCheckpointHeader struct {
	Format string  `json:"format"`
	Frames int     `json:"frames"` // frames saved up to and including this state
	Step   int64   `json:"step"`
	TimePS float64 `json:"time_ps"`
	Bytes  int     `json:"bytes"`
	SHA256 string  `json:"sha256"`
}

type simSummary struct {
	Out              string   `json:"out"`
	Frames           int      `json:"frames"`
	NewFrames        int      `json:"new_frames"`
	ResumedFrom      int      `json:"resumed_from_frame"`
	NS               float64  `json:"ns"`
	NsPerDay         float64  `json:"ns_per_day"`
	MeanPotentialKJ  float64  `json:"mean_potential_kj_mol"`
	MeanTemperatureK *float64 `json:"mean_temperature_K"` // of the new frames; null without any
	Seed             int32    `json:"seed"`
	Platform         string   `json:"platform"`
	OpenMM           string   `json:"openmm"`
	Traj             string   `json:"traj"`
	Energies         string   `json:"energies"`
	Top              string   `json:"top"`
	Meta             string   `json:"meta"`
	Checkpoint       string   `json:"checkpoint"`
	WallS            float64  `json:"wall_s"`
}

// simulateHook, when set (by tests), runs after frame k is in traj.dcd and
// energies.csv and before its checkpoint is written; an error from it stops
// the run there, as a crash at that point would.
var simulateHook func(frame int) error

func runSimulate(ctx context.Context, env *cmdEnv, args []string) error {
	c := commands["simulate"]
	fs := newFlags(c, env)
	mdf := &mdFlags{
		pdbHelp:        "starting structure `file` (PDB)",
		nsHelp:         "simulated time in `ns` (in all, counting frames already in DIR)",
		timestepFSHelp: "time step in `fs`",
		seedHelp:       "random `seed` of velocities and integrator (default: random, recorded)",
	}
	mdf.register(fs)
	constraints := fs.String("constraints", "HBonds", "OpenMM `constraints`: HBonds or None (None samples the same ensemble as the unconstrained energy a flow is weighted with)")
	asJSON := fs.Bool("json", false, "print a JSON summary as the last line")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	set := flagsSet(fs)
	timestepPS, spf, planned, err := mdf.validate(set, func() error {
		switch *constraints {
		case "None", "HBonds", "AllBonds", "HAngles":
			return nil
		}
		return fmt.Errorf("%w: --constraints %q: want HBonds or None (or OpenMM's AllBonds, HAngles)", errUsage, *constraints)
	})
	if err != nil {
		return err
	}
	start := time.Now()

	pdbBytes, err := os.ReadFile(mdf.pdb)
	if err != nil {
		return err
	}
	pdb, err := molecule.ReadPDB(bytes.NewReader(pdbBytes), mdf.pdb)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(pdbBytes)
	want := simSettings{
		Source: filepath.Base(mdf.pdb), SourceSHA256: hex.EncodeToString(sum[:]),
		ForceField: plugin.DefaultForceField, Nonbonded: "NoCutoff", Constraints: *constraints,
		Integrator: "LangevinMiddle", TimestepPS: timestepPS, FrictionPerPS: mdf.friction,
		TemperatureK: mdf.temperature, Minimized: mdf.minimize, Seed: int32(mdf.seed), Platform: mdf.platform,
		SaveIntervalPS: mdf.savePS, StepsPerFrame: int64(spf),
	}
	if mdf.hmr > 0 {
		hmr := mdf.hmr
		want.HydrogenMassAMU = &hmr
	}
	paths := simPaths(mdf.out)

	// What the directory holds decides between a fresh start and a resume.
	meta, err := readSimMeta(paths.meta)
	if err != nil {
		return err
	}
	var ck *simCheckpointFile
	if meta == nil {
		for _, p := range []string{paths.traj, paths.energies, paths.checkpoint} {
			if _, err := os.Stat(p); err == nil {
				return fmt.Errorf("%s exists but %s does not: %s is not a gobg simulate directory (or is damaged); use another --out", p, paths.meta, mdf.out)
			}
		}
		if want.Seed == 0 {
			want.Seed = simRandomSeed()
		}
		meta = &simMeta{simSettings: want}
	} else {
		if !set["seed"] {
			want.Seed = meta.Seed
		}
		if diff := simDiffSettings(meta.simSettings, want); diff != "" {
			return fmt.Errorf("%s holds a run with other settings than this command's (%s); continue it with its settings or use another --out", paths.meta, diff)
		}
		if ck, err = readSimCheckpoint(paths.checkpoint); err != nil {
			return err
		}
		if ck != nil && ck.Step != int64(ck.Frames)*int64(spf) {
			return fmt.Errorf("%s: step %d is not frame %d's (%d steps a frame)", paths.checkpoint, ck.Step, ck.Frames, spf)
		}
	}
	done := 0
	if ck != nil {
		done = ck.Frames
	}
	if done >= planned {
		// Nothing to simulate: report what the directory holds.
		energies, _, err := readSimEnergies(paths.energies, done)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.stderr, "%s already holds %d frames (%.4g ns); --ns %g asks for %d: nothing to run\n",
			mdf.out, done, float64(done)*mdf.savePS/1000, mdf.ns, planned)
		s := simSummary{Out: mdf.out, Frames: done, ResumedFrom: done, NS: float64(done) * mdf.savePS / 1000,
			MeanPotentialKJ: simMean(energies), Seed: meta.Seed, Platform: meta.Platform, OpenMM: meta.OpenMM,
			Traj: paths.traj, Energies: paths.energies, Top: paths.top, Meta: paths.meta, Checkpoint: paths.checkpoint,
			WallS: time.Since(start).Seconds()}
		if *asJSON {
			return printJSON(env, s)
		}
		return nil
	}

	md, err := plugin.StartMD(ctx, plugin.MDConfig{
		Config: plugin.Config{Python: mdf.python, PDB: mdf.pdb, Platform: mdf.platform, Threads: mdf.threads,
			ForceField: want.ForceField, Constraints: want.Constraints},
		TemperatureK: want.TemperatureK, FrictionPerPS: want.FrictionPerPS, TimestepPS: want.TimestepPS,
		HydrogenMassAMU: mdf.hmr, Seed: want.Seed,
	})
	if err != nil {
		return fmt.Errorf("start OpenMM: %w", err)
	}
	defer md.Close()
	natoms := len(pdb.Topology.Atoms)
	if md.NumAtoms() != natoms {
		return fmt.Errorf("OpenMM's system has %d atoms, %s %d", md.NumAtoms(), mdf.pdb, natoms)
	}
	info := md.Info()
	meta.OpenMM, meta.Threads, meta.FramesPlanned = info.OpenmmVersion, mdf.threads, planned
	// Created only now, so that a structure OpenMM cannot simulate leaves
	// no folder behind.
	if err := os.MkdirAll(mdf.out, 0o755); err != nil {
		return fmt.Errorf("create output directory: %w", err)
	}

	var dcd *molecule.DCDWriter
	var csv *os.File
	var energies []float64
	if ck == nil {
		// A fresh start, also for a directory whose run stopped before its
		// first checkpoint: whatever frames it holds are rewritten.
		meta.FramesWritten = 0
		if err := writeSimMeta(paths.meta, meta); err != nil {
			return err
		}
		if err := molecule.WritePDBFile(paths.top, pdb.Topology, pdb.Models[:1], pdb.Box); err != nil {
			return err
		}
		if err := mdf.minimizeIfAsked(ctx, md, env.stderr); err != nil {
			return err
		}
		if _, err := md.SetVelocities(ctx, want.TemperatureK, want.Seed); err != nil {
			return err
		}
		// Create the DCD empty and append to it in place: CreateDCD would
		// keep the frames in a temporary file until Close, and a killed run
		// would leave them there.
		title := "gobg simulate " + want.Source
		if len(title) > 80 {
			title = title[:80]
		}
		w, err := molecule.CreateDCD(paths.traj, natoms, molecule.DCDOptions{
			FirstStep: spf, Interval: spf, Timestep: timestepPS, Title: title})
		if err != nil {
			return err
		}
		if err := w.Close(); err != nil {
			return err
		}
		if dcd, err = molecule.AppendDCD(paths.traj); err != nil {
			return err
		}
		if err := atomicfile.WriteFile(paths.energies, []byte(simCSVHeader+"\n")); err != nil {
			return err
		}
	} else {
		if dcd, energies, err = simResumeFiles(paths, ck.Frames, natoms, spf); err != nil {
			return err
		}
		if _, err := os.Stat(paths.top); err != nil {
			if err := molecule.WritePDBFile(paths.top, pdb.Topology, pdb.Models[:1], pdb.Box); err != nil {
				return err
			}
		}
		s, err := md.Restore(ctx, ck.Data)
		if err != nil {
			dcd.Close()
			return fmt.Errorf("restore %s: %w", paths.checkpoint, err)
		}
		if s.Step != ck.Step {
			dcd.Close()
			return fmt.Errorf("restore %s: OpenMM is at step %d, the checkpoint says %d", paths.checkpoint, s.Step, ck.Step)
		}
		fmt.Fprintf(env.stderr, "resuming %s at frame %d (%.4g ns, step %d)\n", mdf.out, ck.Frames, float64(ck.Frames)*mdf.savePS/1000, ck.Step)
	}
	defer dcd.Close()
	if csv, err = os.OpenFile(paths.energies, os.O_WRONLY|os.O_APPEND, 0); err != nil {
		return err
	}
	defer csv.Close()

	s := simSummary{Out: mdf.out, ResumedFrom: done, Seed: want.Seed, Platform: info.Platform, OpenMM: info.OpenmmVersion,
		Traj: paths.traj, Energies: paths.energies, Top: paths.top, Meta: paths.meta, Checkpoint: paths.checkpoint}
	saved := done
	var tempSum float64
	runStart := time.Now()
	lastReport := runStart
	progress := func(final bool) {
		el := time.Since(runStart)
		newNS := float64(saved-done) * mdf.savePS / 1000
		rate := 0.0
		if el > 0 {
			rate = newNS / el.Hours() * 24
		}
		s.NsPerDay = rate
		eta := "-"
		if rate > 0 && saved < planned {
			eta = (time.Duration(float64(planned-saved) * mdf.savePS / 1000 / rate * 24 * float64(time.Hour))).Round(time.Second).String()
		}
		if final || time.Since(lastReport) >= 10*time.Second {
			lastReport = time.Now()
			fmt.Fprintf(env.stderr, "simulate: %.4f / %.4f ns (frame %d of %d), %.1f ns/day, ETA %s\n",
				float64(saved)*mdf.savePS/1000, float64(planned)*mdf.savePS/1000, saved, planned, rate, eta)
			if !final {
				// For people watching the directory; the final state is
				// written below, where a failure counts.
				meta.FramesWritten, meta.NsPerDay = saved, rate
				_ = writeSimMeta(paths.meta, meta)
			}
		}
	}

	line := make([]byte, 0, 64)
	runErr := md.Run(ctx, plugin.RunOptions{Steps: int64(planned-done) * int64(spf), ReportInterval: int64(spf), CheckpointEvery: 1},
		func(st plugin.MDState) error {
			k := saved
			if st.Step != int64(k+1)*int64(spf) {
				return fmt.Errorf("frame %d arrived at step %d, want %d", k, st.Step, int64(k+1)*int64(spf))
			}
			if err := dcd.Write(st.Positions, nil); err != nil {
				return err
			}
			ue := strconv.FormatFloat(st.PotentialKJ, 'f', 4, 64) // as the reference data's files
			line = strconv.AppendInt(line[:0], int64(k), 10)
			line = append(append(append(line, ','), ue...), '\n')
			if _, err := csv.Write(line); err != nil {
				return fmt.Errorf("write %s: frame %d: %w", paths.energies, k, err)
			}
			if simulateHook != nil {
				if err := simulateHook(k); err != nil {
					return err
				}
			}
			if err := writeSimCheckpoint(paths.checkpoint, k+1, st); err != nil {
				return err
			}
			saved = k + 1
			// The mean is of the energies as written, so that it does
			// not depend on where a run was resumed.
			e, _ := strconv.ParseFloat(ue, 64)
			energies = append(energies, e)
			tempSum += md.Temperature(st.KineticKJ)
			progress(false)
			return nil
		})
	progress(true)

	// Record the progress whatever happened: the checkpoint is authoritative,
	// meta.json says it for people.
	meta.FramesWritten = saved
	meta.WallS += time.Since(start).Seconds()
	meta.NsPerDay = s.NsPerDay
	if err := writeSimMeta(paths.meta, meta); err != nil && runErr == nil {
		runErr = err
	}
	if err := csv.Close(); err != nil && runErr == nil {
		runErr = fmt.Errorf("close %s: %w", paths.energies, err)
	}
	if err := dcd.Close(); err != nil && runErr == nil {
		runErr = err
	}
	if runErr != nil {
		if ctx.Err() != nil {
			fmt.Fprintf(env.stderr, "interrupted after frame %d of %d; run the same command again to continue\n", saved, planned)
		}
		return fmt.Errorf("simulate %s: stopped at frame %d of %d: %w", mdf.out, saved, planned, runErr)
	}

	s.Frames, s.NewFrames = saved, saved-done
	s.NS = float64(saved) * mdf.savePS / 1000
	s.MeanPotentialKJ = simMean(energies)
	if s.NewFrames > 0 {
		t := tempSum / float64(s.NewFrames)
		s.MeanTemperatureK = &t
	}
	s.WallS = time.Since(start).Seconds()
	fmt.Fprintf(env.stderr, "done: %d frames (%.4g ns) in %s, %.1f ns/day, mean U %.4f kJ/mol\n",
		s.Frames, s.NS, mdf.out, s.NsPerDay, s.MeanPotentialKJ)
	if *asJSON {
		return printJSON(env, s)
	}
	return nil
}

// simMean is the arithmetic mean, 0 for no values.
func simMean(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	var sum float64
	for _, x := range v {
		sum += x
	}
	return sum / float64(len(v))
}

type simDirPaths struct{ traj, energies, top, meta, checkpoint string }

func simPaths(dir string) simDirPaths {
	return simDirPaths{
		traj: filepath.Join(dir, simTraj), energies: filepath.Join(dir, simEnergies), top: filepath.Join(dir, simTop),
		meta: filepath.Join(dir, simMetaFile), checkpoint: filepath.Join(dir, simCheckpoint),
	}
}

// simWholeRatio returns a/b if it is a positive whole number (to a relative
// 1e-9, so that 0.1 ps / 0.002 ps counts as 50).
func simWholeRatio(a, b float64) (int, bool) {
	r := a / b
	n := math.Round(r)
	if n < 1 || n > math.MaxInt32 || math.Abs(r-n) > 1e-9*n {
		return 0, false
	}
	return int(n), true
}

// simRandomSeed is a seed for a run that was given none; it is recorded in
// meta.json, so the run can still be repeated.
func simRandomSeed() int32 {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return int32(time.Now().UnixNano()&math.MaxInt32) | 1
	}
	return int32(binary.LittleEndian.Uint32(b[:])&math.MaxInt32) | 1
}

// simDiffSettings lists the settings that differ, "" if none.
func simDiffSettings(have, want simSettings) string {
	var d []string
	add := func(name string, h, w any) {
		hj, _ := json.Marshal(h)
		wj, _ := json.Marshal(w)
		if !bytes.Equal(hj, wj) {
			d = append(d, fmt.Sprintf("%s: %s there, %s here", name, hj, wj))
		}
	}
	add("source_sha256 (the PDB's content)", have.SourceSHA256, want.SourceSHA256)
	add("forcefield", have.ForceField, want.ForceField)
	add("nonbonded", have.Nonbonded, want.Nonbonded)
	add("constraints", have.Constraints, want.Constraints)
	add("hydrogen_mass_amu (--hmr)", have.HydrogenMassAMU, want.HydrogenMassAMU)
	add("integrator", have.Integrator, want.Integrator)
	add("timestep_ps (--timestep-fs)", have.TimestepPS, want.TimestepPS)
	add("friction_per_ps (--friction)", have.FrictionPerPS, want.FrictionPerPS)
	add("temperature_K (--temperature)", have.TemperatureK, want.TemperatureK)
	add("minimized (--minimize)", have.Minimized, want.Minimized)
	add("seed (--seed)", have.Seed, want.Seed)
	add("platform (--platform)", have.Platform, want.Platform)
	add("save_interval_ps (--save-ps)", have.SaveIntervalPS, want.SaveIntervalPS)
	add("steps_per_frame", have.StepsPerFrame, want.StepsPerFrame)
	return strings.Join(d, "; ")
}

func readSimMeta(path string) (*simMeta, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var m simMeta
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return &m, nil
}

func writeSimMeta(path string, m *simMeta) error {
	m.Updated = time.Now().UTC().Format(time.RFC3339)
	b, err := json.MarshalIndent(m, "", " ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	return atomicfile.WriteFile(path, append(b, '\n'))
}

type simCheckpointFile struct {
	simCheckpointHeader
	Data []byte
}

// readSimCheckpoint reads DIR/checkpoint; nil if there is none.
func readSimCheckpoint(path string) (*simCheckpointFile, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	nl := bytes.IndexByte(b, '\n')
	if nl < 0 {
		return nil, fmt.Errorf("read %s: no header line", path)
	}
	var c simCheckpointFile
	if err := json.Unmarshal(b[:nl], &c.simCheckpointHeader); err != nil {
		return nil, fmt.Errorf("read %s: header: %w", path, err)
	}
	if c.Format != simCheckpointFormat {
		return nil, fmt.Errorf("read %s: format %q, this gobg reads %q", path, c.Format, simCheckpointFormat)
	}
	c.Data = b[nl+1:]
	sum := sha256.Sum256(c.Data)
	if len(c.Data) != c.Bytes || hex.EncodeToString(sum[:]) != c.SHA256 {
		return nil, fmt.Errorf("read %s: %d bytes of OpenMM checkpoint, the header says %d (or the checksum differs): the file is damaged", path, len(c.Data), c.Bytes)
	}
	if c.Frames < 1 {
		return nil, fmt.Errorf("read %s: %d frames", path, c.Frames)
	}
	return &c, nil
}

func writeSimCheckpoint(path string, frames int, st plugin.MDState) error {
	if len(st.Checkpoint) == 0 {
		return fmt.Errorf("frame %d (step %d) came without a checkpoint", frames-1, st.Step)
	}
	sum := sha256.Sum256(st.Checkpoint)
	h, err := json.Marshal(simCheckpointHeader{Format: simCheckpointFormat, Frames: frames, Step: st.Step,
		TimePS: st.TimePS, Bytes: len(st.Checkpoint), SHA256: hex.EncodeToString(sum[:])})
	if err != nil {
		return err
	}
	b := make([]byte, 0, len(h)+1+len(st.Checkpoint))
	b = append(append(append(b, h...), '\n'), st.Checkpoint...)
	return atomicfile.WriteFile(path, b)
}

// simResumeFiles cuts traj.dcd and energies.csv back to the checkpoint's frames
// (a run stopped between saving a frame and its checkpoint leaves one frame
// more, a killed write a torn frame or line) and opens the DCD for appending.
// It returns the energies of the frames kept.
func simResumeFiles(paths simDirPaths, frames, natoms, spf int) (*molecule.DCDWriter, []float64, error) {
	r, err := molecule.OpenDCD(paths.traj)
	if err != nil {
		return nil, nil, err
	}
	h := r.Header()
	have, frameSize, torn := r.NumFrames(), r.FrameSize(), r.TornBytes()
	if err := r.CheckAtoms(paths.top, natoms); err != nil {
		r.Close()
		return nil, nil, err
	}
	r.Close()
	if h.Interval != spf || h.FirstStep != spf {
		return nil, nil, fmt.Errorf("%s saves a frame every %d steps from step %d, this run every %d", paths.traj, h.Interval, h.FirstStep, spf)
	}
	if have < frames {
		return nil, nil, fmt.Errorf("%s has %d frames, but %s is at frame %d: the files are out of step (was the machine shut down?); start again in another --out", paths.traj, have, paths.checkpoint, frames)
	}
	if have > frames || torn > 0 {
		st, err := os.Stat(paths.traj)
		if err != nil {
			return nil, nil, err
		}
		headerSize := st.Size() - int64(have)*frameSize - torn
		if err := os.Truncate(paths.traj, headerSize+int64(frames)*frameSize); err != nil {
			return nil, nil, fmt.Errorf("cut %s back to the checkpoint's %d frames: %w", paths.traj, frames, err)
		}
	}
	dcd, err := molecule.AppendDCD(paths.traj)
	if err != nil {
		return nil, nil, err
	}
	if dcd.NumFrames() != frames {
		dcd.Close()
		return nil, nil, fmt.Errorf("%s has %d frames after cutting it to %d", paths.traj, dcd.NumFrames(), frames)
	}

	energies, keep, err := readSimEnergies(paths.energies, frames)
	if err != nil {
		dcd.Close()
		return nil, nil, err
	}
	if keep >= 0 {
		b, err := os.ReadFile(paths.energies)
		if err == nil {
			err = atomicfile.WriteFile(paths.energies, b[:keep])
		}
		if err != nil {
			dcd.Close()
			return nil, nil, fmt.Errorf("cut %s back to %d frames: %w", paths.energies, frames, err)
		}
	}
	return dcd, energies, nil
}

// readSimEnergies reads the first frames rows of energies.csv, checking the
// header and the frame numbers. keep is the byte length to cut the file to,
// or -1 if it holds exactly those rows.
func readSimEnergies(path string, frames int) (energies []float64, keep int, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, err
	}
	br := bufio.NewReader(bytes.NewReader(b))
	off := 0
	for row := -1; row < frames; row++ {
		line, err := br.ReadString('\n')
		if err == io.EOF || (err == nil && !strings.HasSuffix(line, "\n")) {
			return nil, 0, fmt.Errorf("%s has %d complete rows, but the checkpoint is at frame %d: the files are out of step; start again in another --out", path, max(row, 0), frames)
		}
		if err != nil {
			return nil, 0, err
		}
		off += len(line)
		line = strings.TrimSpace(line)
		if row < 0 {
			if line != simCSVHeader {
				return nil, 0, fmt.Errorf("%s:1: header %q, want %q", path, line, simCSVHeader)
			}
			continue
		}
		k, e, ok := strings.Cut(line, ",")
		n, err1 := strconv.Atoi(k)
		v, err2 := strconv.ParseFloat(e, 64)
		if !ok || err1 != nil || err2 != nil || n != row {
			return nil, 0, fmt.Errorf("%s:%d: %q is not frame %d's row", path, row+2, line, row)
		}
		energies = append(energies, v)
	}
	if off == len(b) {
		return energies, -1, nil
	}
	return energies, off, nil
}
