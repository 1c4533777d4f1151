package model

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"

	"github.com/gobg/gobg/energy"
	"github.com/gobg/gobg/internal/atomicfile"

	"github.com/gobg/gobg/energy/molecule"
	"github.com/gobg/gobg/flow/ic"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// Model file format.
//
// A model file is a gzip-compressed POSIX tar archive with, in this order:
//
//   - manifest.json: the manifest type below — format name and version,
//     the flow's Config and Layout, its dtype, the internal-coordinate
//     definition (mode, number of fitting frames, Free, Ref, Lo and Hi of
//     ic.Spec, the topology's bonds and the Z-matrix entries, for
//     checking), the variable index (scope, name, dtype, shape,
//     trainable, byte offset and length in weights.bin) and the SHA-256 of
//     weights.bin, and from version 3 on, where known, temperature_K: the
//     temperature in K the model was trained at (the target of its energy
//     terms);
//   - topology.pdb (when the flow has an internal-coordinate spec): the
//     topology, with positions rebuilt from the reference internal
//     coordinates; the Z-matrix is rebuilt from it and checked entry by
//     entry against the manifest;
//   - weights.bin: every variable under RootScope, in the manifest's
//     order, as raw little-endian float32 or float64 values.
//
// Floats in the manifest are written by encoding/json, which prints the
// shortest decimal that reads back to the same float64, so Ref, Lo and Hi
// survive exactly. The optimizer's state (outside RootScope) is not saved.
const (
	fileFormat = "gobg-flow"
	// fileVersion 2: split-gau's conditioner has one head for all spline
	// parameters and fused W_h/W_z projections, so its version-1 weights do
	// not fit. nsf and split-mlp did not change: version 1 files of those
	// still load.
	// fileVersion 3: the manifest may hold temperature_K. Readers of
	// versions 1 and 2 refuse manifest fields they do not know, so a file
	// with it must not claim version 2; files of versions 1 and 2 still
	// load, with the temperature unknown.
	fileVersion = 3

	entryManifest = "manifest.json"
	entryPDB      = "topology.pdb"
	entryWeights  = "weights.bin"
)

type manifest struct {
	Format        string      `json:"format"`
	Version       int         `json:"version"`
	Config        Config      `json:"config"`
	Layout        *Layout     `json:"layout"`
	DType         string      `json:"dtype"`
	IC            *icRecord   `json:"ic,omitempty"`
	Variables     []varRecord `json:"variables"`
	WeightsSHA256 string      `json:"weights_sha256"`
	// TemperatureK is FileInfo.TemperatureK; absent where unknown.
	TemperatureK *float64 `json:"temperature_K,omitempty"`
}

// FileInfo is what a model file records about how its flow was made,
// beside the flow and its internal-coordinate spec.
type FileInfo struct {
	// TemperatureK is the temperature in K the model was trained at: the
	// ensemble its samples are meant for. 0 means unknown (a file written
	// before gobg recorded it, or by Save).
	TemperatureK float64
}

func (i FileInfo) validate() error {
	if t := i.TemperatureK; t != 0 {
		if err := energy.CheckTemperature(t); err != nil {
			return fmt.Errorf("temperature %w (or 0: unknown)", err)
		}
	}
	return nil
}

type icRecord struct {
	Mode    string     `json:"mode"`
	Frames  int        `json:"frames"`
	Free    []int      `json:"free"`
	Ref     []float64  `json:"ref"`
	Lo      []float64  `json:"lo"`
	Hi      []float64  `json:"hi"`
	Bonds   [][2]int   `json:"bonds"`
	Entries []ic.Entry `json:"entries"`
}

type varRecord struct {
	Scope     string `json:"scope"`
	Name      string `json:"name"`
	DType     string `json:"dtype"`
	Shape     []int  `json:"shape"`
	Trainable bool   `json:"trainable"`
	Offset    int64  `json:"offset"`
	Bytes     int64  `json:"bytes"`
}

// Save writes the flow (and, if spec is not nil, the internal-coordinate
// spec it models) to path atomically: to a temporary file in the same
// directory, synced and renamed over path. The file records no training
// temperature; SaveWithInfo records one.
func Save(path string, f *Flow, spec *ic.Spec) error {
	return SaveWithInfo(path, f, spec, FileInfo{})
}

// SaveWithInfo is Save that also records info in the manifest.
func SaveWithInfo(path string, f *Flow, spec *ic.Spec, info FileInfo) (err error) {
	if err := info.validate(); err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	m := manifest{Format: fileFormat, Version: fileVersion, Config: f.cfg, Layout: f.layout, DType: f.dtype.String()}
	if info.TemperatureK != 0 {
		t := info.TemperatureK
		m.TemperatureK = &t
	}
	var pdb []byte
	if spec != nil {
		if m.IC, pdb, err = encodeSpec(spec); err != nil {
			return fmt.Errorf("save %s: %w", path, err)
		}
		l, err := LayoutFromSpec(spec)
		if err != nil {
			return fmt.Errorf("save %s: %w", path, err)
		}
		if !l.Equal(f.layout) {
			return fmt.Errorf("save %s: the flow's layout is not the one of the spec (%d and %d dimensions)", path, f.Dim(), l.Dim())
		}
	}
	var weights bytes.Buffer
	vars := flowVariables(f.ctx)
	for _, v := range vars {
		t, err := v.Value()
		if err != nil {
			return fmt.Errorf("save %s: read %s: %w", path, v.ScopeAndName(), err)
		}
		start := int64(weights.Len())
		var werr error
		t.MustConstFlatData(func(flat any) { werr = binary.Write(&weights, binary.LittleEndian, flat) })
		if werr != nil {
			return fmt.Errorf("save %s: encode %s: %w", path, v.ScopeAndName(), werr)
		}
		m.Variables = append(m.Variables, varRecord{
			Scope: v.Scope(), Name: v.Name(), DType: v.DType().String(), Shape: v.Shape().Dimensions,
			Trainable: v.Trainable, Offset: start, Bytes: int64(weights.Len()) - start,
		})
	}
	sum := sha256.Sum256(weights.Bytes())
	m.WeightsSHA256 = hex.EncodeToString(sum[:])
	man, err := json.MarshalIndent(m, "", " ")
	if err != nil {
		return fmt.Errorf("save %s: encode manifest: %w", path, err)
	}

	err = atomicfile.Write(path, func(w io.Writer) error {
		gz := gzip.NewWriter(w)
		tw := tar.NewWriter(gz)
		add := func(name string, data []byte) error {
			if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
				return err
			}
			_, err := tw.Write(data)
			return err
		}
		if err := add(entryManifest, man); err != nil {
			return err
		}
		if pdb != nil {
			if err := add(entryPDB, pdb); err != nil {
				return err
			}
		}
		if err := add(entryWeights, weights.Bytes()); err != nil {
			return err
		}
		if err := tw.Close(); err != nil {
			return err
		}
		return gz.Close()
	})
	if err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	return nil
}

// flowVariables lists the flow's variables sorted by scope and name.
func flowVariables(ctx *context.Context) []*context.Variable {
	var vars []*context.Variable
	for v := range ctx.IterVariables() {
		if isFlowVar(v) {
			vars = append(vars, v)
		}
	}
	slices.SortFunc(vars, func(a, b *context.Variable) int { return strings.Compare(a.ScopeAndName(), b.ScopeAndName()) })
	return vars
}

func encodeSpec(spec *ic.Spec) (*icRecord, []byte, error) {
	if spec.Z == nil || spec.Z.Top == nil || spec.Ref == nil {
		return nil, nil, errors.New("spec is not fitted or has no topology")
	}
	top := spec.Z.Top
	rec := &icRecord{
		Mode: spec.Mode.String(), Frames: spec.Frames, Free: spec.Free,
		Ref: spec.Ref, Lo: spec.Lo, Hi: spec.Hi, Entries: spec.Z.Entries,
	}
	for _, b := range top.Bonds {
		rec.Bonds = append(rec.Bonds, [2]int{b.I, b.J})
	}
	for _, arr := range [][]float64{spec.Ref, spec.Lo, spec.Hi} {
		for _, v := range arr {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, nil, errors.New("spec has non-finite reference values or bounds")
			}
		}
	}
	pos := make([]molecule.Vec3, spec.Z.NumAtoms())
	if err := spec.Z.Cartesian(spec.Ref, pos); err != nil {
		return nil, nil, fmt.Errorf("rebuild reference structure: %w", err)
	}
	var buf bytes.Buffer
	if err := molecule.WritePDB(&buf, top, [][]molecule.Vec3{pos}, nil); err != nil {
		return nil, nil, err
	}
	return rec, buf.Bytes(), nil
}

// Load reads a model file written by Save and rebuilds the flow on backend
// and, when the file has one, the internal-coordinate spec (nil
// otherwise). It needs no training data. Every error names the file.
func Load(path string, backend backends.Backend) (*Flow, *ic.Spec, error) {
	f, spec, _, err := LoadWithInfo(path, backend)
	return f, spec, err
}

// LoadWithInfo is Load that also returns what the file records about how
// the flow was made (FileInfo; its zero value for files that record
// nothing, such as those of format versions 1 and 2).
func LoadWithInfo(path string, backend backends.Backend) (*Flow, *ic.Spec, FileInfo, error) {
	var info FileInfo
	f, spec, err := load(path, backend, &info)
	if err != nil {
		return nil, nil, FileInfo{}, fmt.Errorf("model file %s: %w", path, err)
	}
	return f, spec, info, nil
}

// load reads the file; info receives what the manifest records beside the
// flow.
func load(path string, backend backends.Backend, info *FileInfo) (*Flow, *ic.Spec, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer file.Close()
	gz, err := gzip.NewReader(file)
	if err != nil {
		return nil, nil, fmt.Errorf("not a gzip-compressed model file: %w", err)
	}
	tr := tar.NewReader(gz)
	entries := map[string][]byte{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("read archive: %w", err)
		}
		if h.Size > 1<<34 {
			return nil, nil, fmt.Errorf("entry %s: implausible size %d", h.Name, h.Size)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return nil, nil, fmt.Errorf("read entry %s: %w", h.Name, err)
		}
		entries[h.Name] = data
	}
	// Reading to EOF makes gzip verify its CRC and length.
	if _, err := io.Copy(io.Discard, gz); err != nil {
		return nil, nil, fmt.Errorf("read archive: %w", err)
	}
	manData, ok := entries[entryManifest]
	if !ok {
		return nil, nil, fmt.Errorf("no %s entry", entryManifest)
	}
	var m manifest
	dec := json.NewDecoder(bytes.NewReader(manData))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", entryManifest, err)
	}
	if m.Format != fileFormat {
		return nil, nil, fmt.Errorf("format %q, want %q", m.Format, fileFormat)
	}
	switch {
	case m.Version == 1 && m.Config.Arch == ArchSplitGAU:
		return nil, nil, errors.New("a split-gau model in format version 1, written before gobg fused the " +
			"conditioner's heads (version 2): its weights do not fit this gobg's split-gau; train it again")
	case m.Version < 1 || m.Version > fileVersion:
		return nil, nil, fmt.Errorf("format version %d, this gobg reads versions 1 to %d", m.Version, fileVersion)
	}
	if m.TemperatureK != nil {
		if m.Version < 3 {
			return nil, nil, fmt.Errorf("format version %d has no temperature_K (it came with version 3)", m.Version)
		}
		if err := energy.CheckTemperature(*m.TemperatureK); err != nil {
			return nil, nil, fmt.Errorf("%s: temperature_K %g: %w", entryManifest, *m.TemperatureK, err)
		}
		info.TemperatureK = *m.TemperatureK
	}
	if m.Layout == nil {
		return nil, nil, errors.New("manifest has no layout")
	}
	weights, ok := entries[entryWeights]
	if !ok {
		return nil, nil, fmt.Errorf("no %s entry", entryWeights)
	}
	if sum := sha256.Sum256(weights); hex.EncodeToString(sum[:]) != m.WeightsSHA256 {
		return nil, nil, fmt.Errorf("%s does not match its checksum (corrupt file)", entryWeights)
	}
	var dt dtypes.DType
	switch m.DType {
	case dtypes.Float32.String():
		dt = dtypes.Float32
	case dtypes.Float64.String():
		dt = dtypes.Float64
	default:
		return nil, nil, fmt.Errorf("dtype %q: want %s or %s", m.DType, dtypes.Float32, dtypes.Float64)
	}
	var spec *ic.Spec
	if m.IC != nil {
		pdb, ok := entries[entryPDB]
		if !ok {
			return nil, nil, fmt.Errorf("manifest has an internal-coordinate spec but there is no %s entry", entryPDB)
		}
		if spec, err = decodeSpec(m.IC, pdb); err != nil {
			return nil, nil, err
		}
		l, err := LayoutFromSpec(spec)
		if err != nil {
			return nil, nil, err
		}
		if !l.Equal(m.Layout) {
			return nil, nil, errors.New("the stored layout does not match the one rebuilt from the internal-coordinate spec")
		}
		m.Layout.Names = l.Names
	}
	f, err := newFlow(backend, m.Config, m.Layout, dt)
	if err != nil {
		return nil, nil, err
	}
	stored := map[string]bool{}
	for _, r := range m.Variables {
		if r.Offset < 0 || r.Bytes < 0 || r.Offset+r.Bytes > int64(len(weights)) {
			return nil, nil, fmt.Errorf("variable %s/%s: bytes [%d, %d) outside %s (%d bytes)",
				r.Scope, r.Name, r.Offset, r.Offset+r.Bytes, entryWeights, len(weights))
		}
		if r.Scope != RootScope && !strings.HasPrefix(r.Scope, RootScope+"/") {
			return nil, nil, fmt.Errorf("variable %s/%s is outside %s", r.Scope, r.Name, RootScope)
		}
		n := 1
		for _, d := range r.Shape {
			if d < 0 {
				return nil, nil, fmt.Errorf("variable %s/%s: negative dimension in %v", r.Scope, r.Name, r.Shape)
			}
			n *= d
		}
		raw := bytes.NewReader(weights[r.Offset : r.Offset+r.Bytes])
		var vals []float64
		switch r.DType {
		case dtypes.Float32.String():
			v := make([]float32, n)
			if int64(4*n) != r.Bytes || binary.Read(raw, binary.LittleEndian, v) != nil {
				return nil, nil, fmt.Errorf("variable %s/%s: %d bytes for shape %v of %s", r.Scope, r.Name, r.Bytes, r.Shape, r.DType)
			}
			vals = make([]float64, n)
			for i, x := range v {
				vals[i] = float64(x)
			}
		case dtypes.Float64.String():
			vals = make([]float64, n)
			if int64(8*n) != r.Bytes || binary.Read(raw, binary.LittleEndian, vals) != nil {
				return nil, nil, fmt.Errorf("variable %s/%s: %d bytes for shape %v of %s", r.Scope, r.Name, r.Bytes, r.Shape, r.DType)
			}
		default:
			return nil, nil, fmt.Errorf("variable %s/%s: dtype %q", r.Scope, r.Name, r.DType)
		}
		v := f.ctx.InAbsPath(r.Scope).Checked(false).VariableWithValue(r.Name, tensorOf(dt, vals, r.Shape...))
		v.SetTrainable(r.Trainable)
		stored[r.Scope+"/"+r.Name] = true
	}
	if err := f.materialize(); err != nil {
		return nil, nil, err
	}
	for _, v := range flowVariables(f.ctx) {
		if !stored[v.Scope()+"/"+v.Name()] {
			return nil, nil, fmt.Errorf("the flow needs variable %s, which the file lacks", v.ScopeAndName())
		}
	}
	if len(stored) != len(flowVariables(f.ctx)) {
		return nil, nil, fmt.Errorf("the file has %d variables, the flow uses %d", len(stored), len(flowVariables(f.ctx)))
	}
	return f, spec, nil
}

// decodeSpec rebuilds the spec: the topology from the PDB with the stored
// bonds, the Z-matrix from it (checked against the stored entries), and the
// fitted arrays.
func decodeSpec(rec *icRecord, pdb []byte) (*ic.Spec, error) {
	p, err := molecule.ReadPDB(bytes.NewReader(pdb), entryPDB)
	if err != nil {
		return nil, err
	}
	top := p.Topology
	n := len(top.Atoms)
	top.Bonds = top.Bonds[:0]
	for _, b := range rec.Bonds {
		if b[0] < 0 || b[1] < 0 || b[0] >= n || b[1] >= n || b[0] == b[1] {
			return nil, fmt.Errorf("bond %v invalid for %d atoms", b, n)
		}
		top.AddBond(b[0], b[1])
	}
	z, err := ic.NewZMatrix(top)
	if err != nil {
		return nil, fmt.Errorf("rebuild Z-matrix: %w", err)
	}
	if !slices.Equal(z.Entries, rec.Entries) {
		return nil, errors.New("the Z-matrix rebuilt from the topology differs from the stored one " +
			"(file written by a gobg with other Z-matrix rules?)")
	}
	mode, err := ic.ParseMode(rec.Mode)
	if err != nil {
		return nil, err
	}
	d := z.NumCoords()
	if len(rec.Ref) != d || len(rec.Lo) != d || len(rec.Hi) != d {
		return nil, fmt.Errorf("spec arrays have lengths %d, %d, %d; the Z-matrix has %d coordinates",
			len(rec.Ref), len(rec.Lo), len(rec.Hi), d)
	}
	var free []int
	for k, c := range z.Coords() {
		if mode.IsFree(c) {
			free = append(free, k)
		}
	}
	if !slices.Equal(free, rec.Free) {
		return nil, fmt.Errorf("stored free coordinates (%d) differ from those of mode %s (%d)", len(rec.Free), mode, len(free))
	}
	for k := range d {
		if math.IsNaN(rec.Ref[k]) || !(rec.Lo[k] < rec.Hi[k]) {
			return nil, fmt.Errorf("coordinate %s: reference %g, bounds [%g, %g]", z.Coords()[k].Name, rec.Ref[k], rec.Lo[k], rec.Hi[k])
		}
	}
	return &ic.Spec{Z: z, Mode: mode, Free: free, Ref: rec.Ref, Lo: rec.Lo, Hi: rec.Hi, Frames: rec.Frames}, nil
}
