package ic

import (
	"math"
	"path/filepath"
	"sync"
	"testing"

	"github.com/gobg/gobg/energy/molecule"
	"github.com/gobg/gobg/internal/testenv"
	_ "github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// system is a reference system: its topology, the minimised PDB structure
// and (when asked) the MD frames.
type system struct {
	name   string
	top    *molecule.Topology
	pdb    []Vec3
	frames [][]Vec3
	z      *ZMatrix
}

var (
	sysMu    sync.Mutex
	sysCache = map[string]*system{}
)

// loadSystem reads <name>.pdb and md/<name>/traj.dcd from the shared data.
func loadSystem(t testing.TB, name string, withFrames bool) *system {
	t.Helper()
	sysMu.Lock()
	defer sysMu.Unlock()
	key := name
	if withFrames {
		key += "+frames"
	}
	if s, ok := sysCache[key]; ok {
		return s
	}
	dir := testenv.SharedData(t)
	p, err := molecule.ReadPDBFile(filepath.Join(dir, name+".pdb"))
	if err != nil {
		t.Fatal(err)
	}
	s := &system{name: name, top: p.Topology, pdb: p.Models[0]}
	if s.z, err = NewZMatrix(s.top); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if withFrames {
		fr, err := molecule.ReadDCDFile(filepath.Join(dir, "md", name, "traj.dcd"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fr {
			if len(f.Positions) != len(s.pdb) {
				t.Fatalf("%s: frame has %d atoms, PDB %d", name, len(f.Positions), len(s.pdb))
			}
			s.frames = append(s.frames, f.Positions)
		}
	}
	sysCache[key] = s
	return s
}

// sample returns n frames spread evenly over frames (all if n <= 0 or n >= len).
func sample(frames [][]Vec3, n int) [][]Vec3 {
	if n <= 0 || n >= len(frames) {
		return frames
	}
	out := make([][]Vec3, n)
	for i := range out {
		out[i] = frames[i*len(frames)/n]
	}
	return out
}

// tensorOf packs rows of float64 values into a [len(rows), cols...] tensor of dtype.
func tensorOf(dt dtypes.DType, flat []float64, dims ...int) *tensors.Tensor {
	if dt == dtypes.Float32 {
		f := make([]float32, len(flat))
		for i, v := range flat {
			f[i] = float32(v)
		}
		return tensors.FromFlatDataAndDimensions(f, dims...)
	}
	return tensors.FromFlatDataAndDimensions(append([]float64(nil), flat...), dims...)
}

// flat64 reads any float tensor as float64 values.
func flat64(t testing.TB, x *tensors.Tensor) []float64 {
	t.Helper()
	var out []float64
	x.MustConstFlatData(func(flat any) {
		switch v := flat.(type) {
		case []float64:
			out = append(out, v...)
		case []float32:
			for _, f := range v {
				out = append(out, float64(f))
			}
		default:
			t.Fatalf("unexpected tensor type %T", flat)
		}
	})
	return out
}

func positionsFlat(frames [][]Vec3) []float64 {
	var out []float64
	for _, f := range frames {
		for _, p := range f {
			out = append(out, p[0], p[1], p[2])
		}
	}
	return out
}

func maxDev(a, b []Vec3) float64 {
	m := 0.0
	for i := range a {
		m = math.Max(m, Distance(a[i], b[i]))
	}
	return m
}
