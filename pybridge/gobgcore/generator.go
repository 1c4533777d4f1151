package gobgcore

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/gobg/gobg/energy"
	"github.com/gobg/gobg/energy/molecule"
	"github.com/gobg/gobg/energy/provider"
	"github.com/gobg/gobg/flow/generator"
	"github.com/gobg/gobg/flow/model"
	"github.com/gobg/gobg/flow/train"
	"github.com/gobg/gobg/plugin"
)

// Generator is a trained Boltzmann generator loaded from a model file
// (flow/generator): structures in nm with their log-densities, and the
// log-density of given structures.
type Generator struct {
	g *generator.Generator
}

// LoadGenerator reads a model file written by gobg train. backend selects the
// GoMLX backend ("" for the default: DefaultBackend); batch is the size of the
// compiled graphs (0 for the default, 256).
func LoadGenerator(path, backend string, batch int) (*Generator, error) {
	g, err := generator.Load(path, backend, batch)
	if err != nil {
		return nil, fmt.Errorf("load model %s: %w", path, err)
	}
	return &Generator{g: g}, nil
}

// Backend is the spec of the GoMLX backend the generator computes on.
func (g *Generator) Backend() string { return g.g.Backend() }

// SetDefensive makes the generator a defensive mixture (model.Defensive):
// a fraction frac of samples from the flow with a base widen times wider in
// the dimensions dims names ("all", "torsions", "backbone-torsions"); its
// samples and log-densities are then the mixture's. frac 0 restores the
// flow.
func (g *Generator) SetDefensive(frac, widen float64, dims string) error {
	if frac == 0 {
		return g.g.SetDefensive(model.Defensive{})
	}
	sel, err := model.WidenDims(g.g.Flow().Layout(), dims)
	if err != nil {
		return err
	}
	return g.g.SetDefensive(model.Defensive{Frac: frac, Widen: widen, Dims: sel})
}

// SetSymmetrize averages the generator's density over at most maxImages
// cyclic relabellings of symmetric terminal groups (generator.SetSymmetrize;
// 0 turns it off) and returns, as JSON, the number of relabellings, the
// groups' centre atoms and the number of groups left out.
func (g *Generator) SetSymmetrize(maxImages int) (string, error) {
	res, err := g.g.SetSymmetrize(maxImages)
	if err != nil {
		return "", err
	}
	b, err := json.Marshal(res)
	return string(b), err
}

// NumAtoms is the number of atoms of each structure.
func (g *Generator) NumAtoms() int { return g.g.NumAtoms() }

// Temperature is the temperature in K the model was trained at, or 300 K
// (energy.DefaultTemperature) where its file does not record one.
func (g *Generator) Temperature() float64 {
	t, _ := g.g.Temperature()
	return t
}

// TemperatureRecorded tells whether the model file records the
// temperature it was trained at (files of older gobg versions do not).
func (g *Generator) TemperatureRecorded() bool {
	_, rec := g.g.Temperature()
	return rec
}

// TemperatureWarning is "" when working at kelvin suits the model, and
// otherwise one line saying why not (generator.TemperatureWarning).
func (g *Generator) TemperatureWarning(kelvin float64) string { return g.g.TemperatureWarning(kelvin) }

// NumFree is the number of coordinates the flow models.
func (g *Generator) NumFree() int { return g.g.Spec().NumFree() }

// Mode is "full" (bonds and angles free: a density on Cartesian space) or
// "reduced" (bond lengths and side-chain angles fixed).
func (g *Generator) Mode() string { return g.g.Mode().String() }

// Architecture is the flow's architecture name (nsf, split-gau, split-mlp).
func (g *Generator) Architecture() string { return g.g.Flow().Config().Arch }

// NumParams is the number of trainable parameters.
func (g *Generator) NumParams() int { return g.g.Flow().NumParams() }

// Structure is the generator's topology as a Structure (for its
// openmm.app.Topology), with one model: the structure built from the
// reference values of the internal coordinates (their means over the
// training frames).
func (g *Generator) Structure() (*Structure, error) {
	spec := g.g.Spec()
	x := make([]molecule.Vec3, spec.Z.NumAtoms())
	if err := spec.Z.Cartesian(spec.Ref, x); err != nil {
		return nil, fmt.Errorf("model %s: reference structure: %w", g.g.Path(), err)
	}
	return &Structure{pdb: &molecule.PDB{Topology: g.g.Topology(), Models: [][]molecule.Vec3{x}}, path: g.g.Path()}, nil
}

// SampleInto draws n structures into the caller's buffers: positions
// (n·atoms·3 float64, nm) and log q(x) (n float64). The same seed gives the
// same structures.
func (g *Generator) SampleInto(n int, seed int64, posAddr uintptr, posLen int, logqAddr uintptr, logqLen int) error {
	pos, err := view[float64](posAddr, posLen, "positions")
	if err != nil {
		return err
	}
	lq, err := view[float64](logqAddr, logqLen, "log q")
	if err != nil {
		return err
	}
	return g.g.Sample(n, uint64(seed), pos, lq)
}

// LogProbInto writes log q(x) of n structures (n·atoms·3 float64, nm) into
// out (n float64).
func (g *Generator) LogProbInto(n int, posAddr uintptr, posLen int, outAddr uintptr, outLen int) error {
	pos, err := view[float64](posAddr, posLen, "positions")
	if err != nil {
		return err
	}
	out, err := view[float64](outAddr, outLen, "log q")
	if err != nil {
		return err
	}
	return g.g.LogProb(n, pos, out)
}

// MatchPDBInto pairs the atoms of a structure of the generator's molecule,
// given as the text of a PDB file (name names it in errors), with the
// generator's by identity (generator.Generator.MatchAtoms; the file's first
// model decides the handedness of hydrogen groups) and writes, for each of
// the generator's atoms, the index of its partner in the file into an int64
// buffer of NumAtoms elements. It returns the hydrogen groups paired by
// geometry against their names, one per line.
func (g *Generator) MatchPDBInto(pdbText, name string, addr uintptr, n int) (string, error) {
	out, err := int64s(addr, n, g.g.NumAtoms(), "atom order")
	if err != nil {
		return "", err
	}
	p, err := molecule.ReadPDB(strings.NewReader(pdbText), name)
	if err != nil {
		return "", err
	}
	m, err := g.g.MatchAtoms(molecule.AtomSource{File: name, Top: p.Topology, Positions: p.Models[0]})
	if err != nil {
		return "", err
	}
	for i, j := range m.Order {
		out[i] = int64(j)
	}
	return strings.Join(m.Reoriented, "\n"), nil
}

// Close releases the compiled graphs.
func (g *Generator) Close() { g.g.Close() }

// Train runs a training configuration (the file gobg train --config reads)
// with its configured energy provider and returns the summary as JSON. With
// resume, training continues from the output directory's checkpoint.
// Progress goes to stderr.
func Train(configPath string, resume bool) (string, error) {
	return runTraining(configPath, nil, resume)
}

// TrainWithEnergy is Train with e's energies (an OpenMM Context in the
// Python script, for example) replacing the configuration's energy provider
// in the KL stages.
func TrainWithEnergy(configPath string, e *PythonEnergy, resume bool) (string, error) {
	if e == nil {
		return "", fmt.Errorf("train %s: nil energy", configPath)
	}
	return runTraining(configPath, e, resume)
}

// runTraining does not catch SIGINT: inside a Python process that signal is
// Python's (KeyboardInterrupt), and a checkpoint is written every
// checkpoint_every steps anyway.
func runTraining(configPath string, e *PythonEnergy, resume bool) (string, error) {
	cfg, err := train.ReadConfig(configPath)
	if err != nil {
		return "", err
	}
	ctx := context.Background()
	opts := train.Options{Resume: resume, Progress: os.Stderr, Energy: configEnergy(cfg)}
	if e != nil {
		opts.Energy = train.UseEnergy(e)
	}
	t, err := train.New(ctx, cfg, opts)
	if err != nil {
		return "", fmt.Errorf("train %s: %w", configPath, err)
	}
	defer t.Close()
	sum, err := t.Run(ctx)
	if err != nil {
		return "", fmt.Errorf("train %s: %w", configPath, err)
	}
	b, err := json.Marshal(sum)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// configEnergy starts the energy provider the configuration's energy
// section names, for the topology of its data.
func configEnergy(cfg train.Config) train.EnergyStarter {
	e := cfg.Energy
	return func(ctx context.Context) (energy.Energy, func(), error) {
		return provider.Start(ctx, provider.Spec{Name: e.Provider, PDB: cfg.Data.Topology, SystemXML: e.SystemXML,
			Python: e.Python, Workers: e.Workers, Platform: e.Platform,
			Remote: e.EnergyWorkers, TLS: plugin.TLSFiles{Cert: e.TLSCert, Key: e.TLSKey, CA: e.TLSCA}})
	}
}
