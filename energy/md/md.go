// Package md runs resumable molecular dynamics in an OpenMM worker
// (plugin.StartMD) into a directory: the frames (traj.dcd), their potential
// energies (energies.csv), the topology (top.pdb), the settings and progress
// (meta.json) and OpenMM's full state at the last saved frame (checkpoint).
// A run in a directory that holds an earlier one with the same settings
// continues exactly from its checkpoint; frames saved after it are dropped.
package md

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

// Files of a simulation directory.
const (
	TrajFile       = "traj.dcd"
	EnergiesFile   = "energies.csv"
	TopFile        = "top.pdb"
	MetaFile       = "meta.json"
	CheckpointFile = "checkpoint"
	// CSVHeader is the first line of energies.csv.
	CSVHeader = "frame,potential_kj_mol"
	// checkpointFormat names the layout of DIR/checkpoint: one line of
	// JSON (checkpointHeader) and then OpenMM's checkpoint bytes.
	checkpointFormat = "gobg-md-checkpoint/1"
)

// Settings are what a run's frames depend on: a directory's settings must
// equal the caller's for the run to continue there.
type Settings struct {
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

// Meta is DIR/meta.json: the settings, in the shared reference data's
// vocabulary where it has a word for them, and the progress.
type Meta struct {
	Settings
	FramesPlanned int     `json:"frames_planned"`
	FramesWritten int     `json:"frames_written"`
	OpenMM        string  `json:"openmm"`
	Threads       int     `json:"threads"`
	WallS         float64 `json:"wall_s"`     // all invocations together
	NsPerDay      float64 `json:"ns_per_day"` // of the latest invocation
	Updated       string  `json:"updated"`
}

// Summary is what a run did (gobg simulate's JSON summary).
type Summary struct {
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

// Options say what to simulate and where.
type Options struct {
	PDB, Out string // the starting structure; the directory (created if missing)
	// Python, Platform and Threads start the OpenMM worker (plugin.Config).
	Python, Platform string
	Threads          int
	Constraints      string // OpenMM's: None, HBonds, AllBonds, HAngles
	TemperatureK     float64
	FrictionPerPS    float64
	TimestepPS       float64
	HydrogenMassAMU  float64 // 0: the force field's masses
	Minimize         bool    // minimise the energy before a fresh start
	// Seed seeds the velocities and the integrator; 0: the directory's, or
	// a random one (recorded) for a fresh start.
	Seed          int32
	SavePS        float64 // ps between saved frames
	StepsPerFrame int     // integrator steps between saved frames (SavePS / TimestepPS)
	Frames        int     // frames in all, counting those already in Out
	// Log receives progress lines (every 10 s) and notes; nil discards them.
	Log io.Writer
	// BeforeCheckpoint, when set, runs after frame k is in traj.dcd and
	// energies.csv and before its checkpoint is written; an error from it
	// stops the run there, as a crash at that point would.
	BeforeCheckpoint func(frame int) error
}

// WholeRatio returns a/b if it is a positive whole number that fits an
// int32, to a relative 1e-9, so that 0.1 ps / 0.002 ps counts as 50: the
// integrator steps per saved frame (SavePS / TimestepPS) and the frames of
// a run (its length / SavePS) must be whole, and float64 quotients of
// decimal times rarely are exactly.
func WholeRatio(a, b float64) (int, bool) {
	r := a / b
	n := math.Round(r)
	if !(n >= 1 && n <= math.MaxInt32) || math.Abs(r-n) > 1e-9*n { // NaN fails the first test
		return 0, false
	}
	return int(n), true
}

// Paths are the files of a simulation directory.
type Paths struct{ Traj, Energies, Top, Meta, Checkpoint string }

// DirPaths names the files of the simulation directory dir.
func DirPaths(dir string) Paths {
	return Paths{Traj: filepath.Join(dir, TrajFile), Energies: filepath.Join(dir, EnergiesFile), Top: filepath.Join(dir, TopFile),
		Meta: filepath.Join(dir, MetaFile), Checkpoint: filepath.Join(dir, CheckpointFile)}
}

// Run simulates into opt.Out until it holds opt.Frames frames, starting
// afresh or continuing the run there. The summary is also returned with an
// error, describing what was saved.
func Run(ctx context.Context, opt Options) (*Summary, error) {
	start := time.Now()
	log := opt.Log
	if log == nil {
		log = io.Discard
	}
	pdbBytes, err := os.ReadFile(opt.PDB)
	if err != nil {
		return nil, err
	}
	pdb, err := molecule.ReadPDB(bytes.NewReader(pdbBytes), opt.PDB)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(pdbBytes)
	spf := opt.StepsPerFrame
	want := Settings{
		Source: filepath.Base(opt.PDB), SourceSHA256: hex.EncodeToString(sum[:]),
		ForceField: plugin.DefaultForceField, Nonbonded: "NoCutoff", Constraints: opt.Constraints,
		Integrator: "LangevinMiddle", TimestepPS: opt.TimestepPS, FrictionPerPS: opt.FrictionPerPS,
		TemperatureK: opt.TemperatureK, Minimized: opt.Minimize, Seed: opt.Seed, Platform: opt.Platform,
		SaveIntervalPS: opt.SavePS, StepsPerFrame: int64(spf),
	}
	if opt.HydrogenMassAMU > 0 {
		hmr := opt.HydrogenMassAMU
		want.HydrogenMassAMU = &hmr
	}
	paths := DirPaths(opt.Out)
	s := &Summary{Out: opt.Out, Traj: paths.Traj, Energies: paths.Energies, Top: paths.Top, Meta: paths.Meta, Checkpoint: paths.Checkpoint}

	// What the directory holds decides between a fresh start and a resume.
	meta, err := readMeta(paths.Meta)
	if err != nil {
		return nil, err
	}
	var ck *Checkpoint
	if meta == nil {
		for _, p := range []string{paths.Traj, paths.Energies, paths.Checkpoint} {
			if _, err := os.Stat(p); err == nil {
				return nil, fmt.Errorf("%s exists but %s does not: %s is not a gobg simulate directory (or is damaged); use another --out", p, paths.Meta, opt.Out)
			}
		}
		if want.Seed == 0 {
			want.Seed = RandomSeed()
		}
		meta = &Meta{Settings: want}
	} else {
		if want.Seed == 0 {
			want.Seed = meta.Seed
		}
		if diff := diffSettings(meta.Settings, want); diff != "" {
			return nil, fmt.Errorf("%s holds a run with other settings than this command's (%s); continue it with its settings or use another --out", paths.Meta, diff)
		}
		if ck, err = ReadCheckpoint(paths.Checkpoint); err != nil {
			return nil, err
		}
		if ck != nil && ck.Step != int64(ck.Frames)*int64(spf) {
			return nil, fmt.Errorf("%s: step %d is not frame %d's (%d steps a frame)", paths.Checkpoint, ck.Step, ck.Frames, spf)
		}
	}
	done := 0
	if ck != nil {
		done = ck.Frames
	}
	s.ResumedFrom, s.Seed = done, want.Seed
	if done >= opt.Frames {
		// Nothing to simulate: report what the directory holds (NewFrames
		// 0, ResumedFrom >= Frames).
		energies, _, err := readEnergies(paths.Energies, done)
		if err != nil {
			return nil, err
		}
		s.Frames, s.NS, s.MeanPotentialKJ = done, float64(done)*opt.SavePS/1000, mean(energies)
		s.Seed, s.Platform, s.OpenMM, s.WallS = meta.Seed, meta.Platform, meta.OpenMM, time.Since(start).Seconds()
		return s, nil
	}

	sim, err := plugin.StartMD(ctx, plugin.MDConfig{
		Config: plugin.Config{Python: opt.Python, PDB: opt.PDB, Platform: opt.Platform, Threads: opt.Threads,
			ForceField: want.ForceField, Constraints: want.Constraints},
		TemperatureK: want.TemperatureK, FrictionPerPS: want.FrictionPerPS, TimestepPS: want.TimestepPS,
		HydrogenMassAMU: opt.HydrogenMassAMU, Seed: want.Seed,
	})
	if err != nil {
		return nil, fmt.Errorf("start OpenMM: %w", err)
	}
	defer sim.Close()
	natoms := len(pdb.Topology.Atoms)
	if sim.NumAtoms() != natoms {
		return nil, fmt.Errorf("OpenMM's system has %d atoms, %s %d", sim.NumAtoms(), opt.PDB, natoms)
	}
	info := sim.Info()
	s.Platform, s.OpenMM = info.Platform, info.OpenmmVersion
	meta.OpenMM, meta.Threads, meta.FramesPlanned = info.OpenmmVersion, opt.Threads, opt.Frames
	// Created only now, so that a structure OpenMM cannot simulate leaves
	// no folder behind.
	if err := os.MkdirAll(opt.Out, 0o755); err != nil {
		return nil, fmt.Errorf("create output directory: %w", err)
	}

	var dcd *molecule.DCDWriter
	var energies []float64
	if ck == nil {
		// A fresh start, also for a directory whose run stopped before its
		// first checkpoint: whatever frames it holds are rewritten.
		meta.FramesWritten = 0
		if dcd, err = freshStart(ctx, sim, opt, pdb, paths, meta, log); err != nil {
			return nil, err
		}
	} else {
		if dcd, energies, err = resumeFiles(paths, ck.Frames, natoms, spf); err != nil {
			return nil, err
		}
		if _, err := os.Stat(paths.Top); err != nil {
			if err := molecule.WritePDBFile(paths.Top, pdb.Topology, pdb.Models[:1], pdb.Box); err != nil {
				return nil, err
			}
		}
		st, err := sim.Restore(ctx, ck.Data)
		if err != nil {
			dcd.Close()
			return nil, fmt.Errorf("restore %s: %w", paths.Checkpoint, err)
		}
		if st.Step != ck.Step {
			dcd.Close()
			return nil, fmt.Errorf("restore %s: OpenMM is at step %d, the checkpoint says %d", paths.Checkpoint, st.Step, ck.Step)
		}
		fmt.Fprintf(log, "resuming %s at frame %d (%.4g ns, step %d)\n", opt.Out, ck.Frames, float64(ck.Frames)*opt.SavePS/1000, ck.Step)
	}
	defer dcd.Close()
	csv, err := os.OpenFile(paths.Energies, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return nil, err
	}
	defer csv.Close()

	saved := done
	var tempSum float64
	runStart := time.Now()
	lastReport := runStart
	progress := func(final bool) {
		el := time.Since(runStart)
		rate := 0.0
		if el > 0 {
			rate = float64(saved-done) * opt.SavePS / 1000 / el.Hours() * 24
		}
		s.NsPerDay = rate
		eta := "-"
		if rate > 0 && saved < opt.Frames {
			eta = (time.Duration(float64(opt.Frames-saved) * opt.SavePS / 1000 / rate * 24 * float64(time.Hour))).Round(time.Second).String()
		}
		if final || time.Since(lastReport) >= 10*time.Second {
			lastReport = time.Now()
			fmt.Fprintf(log, "simulate: %.4f / %.4f ns (frame %d of %d), %.1f ns/day, ETA %s\n",
				float64(saved)*opt.SavePS/1000, float64(opt.Frames)*opt.SavePS/1000, saved, opt.Frames, rate, eta)
			if !final {
				// For people watching the directory; the final state is
				// written below, where a failure counts.
				meta.FramesWritten, meta.NsPerDay = saved, rate
				_ = writeMeta(paths.Meta, meta)
			}
		}
	}

	line := make([]byte, 0, 64)
	runErr := sim.Run(ctx, plugin.RunOptions{Steps: int64(opt.Frames-done) * int64(spf), ReportInterval: int64(spf), CheckpointEvery: 1},
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
				return fmt.Errorf("write %s: frame %d: %w", paths.Energies, k, err)
			}
			if opt.BeforeCheckpoint != nil {
				if err := opt.BeforeCheckpoint(k); err != nil {
					return err
				}
			}
			if err := writeCheckpoint(paths.Checkpoint, k+1, st); err != nil {
				return err
			}
			saved = k + 1
			// The mean is of the energies as written, so that it does
			// not depend on where a run was resumed.
			e, _ := strconv.ParseFloat(ue, 64)
			energies = append(energies, e)
			tempSum += sim.Temperature(st.KineticKJ)
			progress(false)
			return nil
		})
	progress(true)

	// Record the progress whatever happened: the checkpoint is authoritative,
	// meta.json says it for people.
	meta.FramesWritten = saved
	meta.WallS += time.Since(start).Seconds()
	meta.NsPerDay = s.NsPerDay
	if err := writeMeta(paths.Meta, meta); err != nil && runErr == nil {
		runErr = err
	}
	if err := csv.Close(); err != nil && runErr == nil {
		runErr = fmt.Errorf("close %s: %w", paths.Energies, err)
	}
	if err := dcd.Close(); err != nil && runErr == nil {
		runErr = err
	}
	s.Frames, s.NewFrames = saved, saved-done
	s.NS = float64(saved) * opt.SavePS / 1000
	if runErr != nil {
		return s, fmt.Errorf("simulate %s: stopped at frame %d of %d: %w", opt.Out, saved, opt.Frames, runErr)
	}
	s.MeanPotentialKJ = mean(energies)
	if s.NewFrames > 0 {
		t := tempSum / float64(s.NewFrames)
		s.MeanTemperatureK = &t
	}
	s.WallS = time.Since(start).Seconds()
	return s, nil
}

// freshStart writes meta.json, top.pdb, an empty traj.dcd and energies.csv,
// minimises if asked and draws the velocities; it returns the DCD open for
// appending.
func freshStart(ctx context.Context, sim *plugin.MD, opt Options, pdb *molecule.PDB, paths Paths, meta *Meta, log io.Writer) (*molecule.DCDWriter, error) {
	if err := writeMeta(paths.Meta, meta); err != nil {
		return nil, err
	}
	if err := molecule.WritePDBFile(paths.Top, pdb.Topology, pdb.Models[:1], pdb.Box); err != nil {
		return nil, err
	}
	if err := Minimize(ctx, sim, opt.Minimize, log); err != nil {
		return nil, err
	}
	if _, err := sim.SetVelocities(ctx, meta.TemperatureK, meta.Seed); err != nil {
		return nil, err
	}
	// Create the DCD empty and append to it in place: CreateDCD would keep
	// the frames in a temporary file until Close, and a killed run would
	// leave them there.
	title := "gobg simulate " + meta.Source
	if len(title) > 80 {
		title = title[:80]
	}
	w, err := molecule.CreateDCD(paths.Traj, len(pdb.Topology.Atoms), molecule.DCDOptions{
		FirstStep: opt.StepsPerFrame, Interval: opt.StepsPerFrame, Timestep: opt.TimestepPS, Title: title})
	if err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	if err := atomicfile.WriteFile(paths.Energies, []byte(CSVHeader+"\n")); err != nil {
		return nil, err
	}
	return molecule.AppendDCD(paths.Traj)
}

// Minimize minimises sim's energy if on and reports the minimised energy on
// log.
func Minimize(ctx context.Context, sim *plugin.MD, on bool, log io.Writer) error {
	if !on {
		return nil
	}
	s, err := sim.Minimize(ctx, 0, 0)
	if err != nil {
		return err
	}
	fmt.Fprintf(log, "minimised: U = %.4f kJ/mol\n", s.PotentialKJ)
	return nil
}

// mean is the arithmetic mean, 0 for no values.
func mean(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	var sum float64
	for _, x := range v {
		sum += x
	}
	return sum / float64(len(v))
}

// RandomSeed is a seed for a run that was given none; callers record it,
// so that the run can still be repeated.
func RandomSeed() int32 {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return int32(time.Now().UnixNano()&math.MaxInt32) | 1
	}
	return int32(binary.LittleEndian.Uint32(b[:])&math.MaxInt32) | 1
}

func readMeta(path string) (*Meta, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var m Meta
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return &m, nil
}

func writeMeta(path string, m *Meta) error {
	m.Updated = time.Now().UTC().Format(time.RFC3339)
	b, err := json.MarshalIndent(m, "", " ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	return atomicfile.WriteFile(path, append(b, '\n'))
}

// checkpointHeader is the first line of DIR/checkpoint.
type checkpointHeader struct {
	Format string  `json:"format"`
	Frames int     `json:"frames"` // frames saved up to and including this state
	Step   int64   `json:"step"`
	TimePS float64 `json:"time_ps"`
	Bytes  int     `json:"bytes"`
	SHA256 string  `json:"sha256"`
}

// diffSettings lists the settings that differ, "" if none.
func diffSettings(have, want Settings) string {
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

// Checkpoint is DIR/checkpoint: the frames saved up to the state and
// OpenMM's checkpoint bytes of it.
type Checkpoint struct {
	checkpointHeader
	Data []byte
}

// ReadCheckpoint reads DIR/checkpoint; nil if there is none.
func ReadCheckpoint(path string) (*Checkpoint, error) {
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
	var c Checkpoint
	if err := json.Unmarshal(b[:nl], &c.checkpointHeader); err != nil {
		return nil, fmt.Errorf("read %s: header: %w", path, err)
	}
	if c.Format != checkpointFormat {
		return nil, fmt.Errorf("read %s: format %q, this gobg reads %q", path, c.Format, checkpointFormat)
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

func writeCheckpoint(path string, frames int, st plugin.MDState) error {
	if len(st.Checkpoint) == 0 {
		return fmt.Errorf("frame %d (step %d) came without a checkpoint", frames-1, st.Step)
	}
	sum := sha256.Sum256(st.Checkpoint)
	h, err := json.Marshal(checkpointHeader{Format: checkpointFormat, Frames: frames, Step: st.Step,
		TimePS: st.TimePS, Bytes: len(st.Checkpoint), SHA256: hex.EncodeToString(sum[:])})
	if err != nil {
		return err
	}
	b := make([]byte, 0, len(h)+1+len(st.Checkpoint))
	b = append(append(append(b, h...), '\n'), st.Checkpoint...)
	return atomicfile.WriteFile(path, b)
}

// resumeFiles cuts traj.dcd and energies.csv back to the checkpoint's frames
// (a run stopped between saving a frame and its checkpoint leaves one frame
// more, a killed write a torn frame or line) and opens the DCD for appending.
// It returns the energies of the frames kept.
func resumeFiles(paths Paths, frames, natoms, spf int) (*molecule.DCDWriter, []float64, error) {
	r, err := molecule.OpenDCD(paths.Traj)
	if err != nil {
		return nil, nil, err
	}
	h := r.Header()
	have, frameSize, torn := r.NumFrames(), r.FrameSize(), r.TornBytes()
	if err := r.CheckAtoms(paths.Top, natoms); err != nil {
		r.Close()
		return nil, nil, err
	}
	r.Close()
	if h.Interval != spf || h.FirstStep != spf {
		return nil, nil, fmt.Errorf("%s saves a frame every %d steps from step %d, this run every %d", paths.Traj, h.Interval, h.FirstStep, spf)
	}
	if have < frames {
		return nil, nil, fmt.Errorf("%s has %d frames, but %s is at frame %d: the files are out of step (was the machine shut down?); start again in another --out", paths.Traj, have, paths.Checkpoint, frames)
	}
	if have > frames || torn > 0 {
		st, err := os.Stat(paths.Traj)
		if err != nil {
			return nil, nil, err
		}
		headerSize := st.Size() - int64(have)*frameSize - torn
		if err := os.Truncate(paths.Traj, headerSize+int64(frames)*frameSize); err != nil {
			return nil, nil, fmt.Errorf("cut %s back to the checkpoint's %d frames: %w", paths.Traj, frames, err)
		}
	}
	dcd, err := molecule.AppendDCD(paths.Traj)
	if err != nil {
		return nil, nil, err
	}
	if dcd.NumFrames() != frames {
		dcd.Close()
		return nil, nil, fmt.Errorf("%s has %d frames after cutting it to %d", paths.Traj, dcd.NumFrames(), frames)
	}

	energies, keep, err := readEnergies(paths.Energies, frames)
	if err != nil {
		dcd.Close()
		return nil, nil, err
	}
	if keep >= 0 {
		b, err := os.ReadFile(paths.Energies)
		if err == nil {
			err = atomicfile.WriteFile(paths.Energies, b[:keep])
		}
		if err != nil {
			dcd.Close()
			return nil, nil, fmt.Errorf("cut %s back to %d frames: %w", paths.Energies, frames, err)
		}
	}
	return dcd, energies, nil
}

// readEnergies reads the first frames rows of energies.csv, checking the
// header and the frame numbers. keep is the byte length to cut the file to,
// or -1 if it holds exactly those rows.
func readEnergies(path string, frames int) (energies []float64, keep int, err error) {
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
			if line != CSVHeader {
				return nil, 0, fmt.Errorf("%s:1: header %q, want %q", path, line, CSVHeader)
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
