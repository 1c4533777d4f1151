package ic

import (
	"fmt"
	"math"

	"github.com/gobg/gobg/internal/graphops"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"gonum.org/v1/gonum/mat"
)

// CheckReport is what CheckSpec measured: the exactness of a fitted Spec's
// transforms on a set of frames.
type CheckReport struct {
	Mode      string         `json:"mode"`
	Atoms     int            `json:"atoms"`
	Coords    int            `json:"coords"`
	Free      int            `json:"free"`
	Layers    int            `json:"layers"`
	Classes   map[string]int `json:"classes"`      // every coordinate, by class
	FreeClass map[string]int `json:"free_classes"` // free coordinates, by class
	Frames    int            `json:"frames"`
	// RoundTrip64 and RoundTrip32 are the largest atom displacement (nm) of
	// the GoMLX round trip Cartesian → internal → Cartesian in float64 and
	// float32, against the input moved into the canonical frame (Full mode)
	// or against the float64 CPU reconstruction (Reduced mode, where the
	// round trip replaces the fixed coordinates by their reference values).
	RoundTrip64 float64 `json:"roundtrip_f64_nm"`
	RoundTrip32 float64 `json:"roundtrip_f32_nm"`
	// RoundTripCPU is the same for the float64 CPU transform.
	RoundTripCPU float64 `json:"roundtrip_cpu_nm"`
	// LogDetRel is the largest relative disagreement between the analytic
	// log-determinant and one from a finite-difference Jacobian (Full mode:
	// log|det J| by LU; Reduced mode: the product of the free columns' norms
	// on their own atoms, see Spec.LogDetJacobian), over LogDetFrames frames.
	LogDetRel    float64 `json:"logdet_fd_rel"`
	LogDetFrames int     `json:"logdet_frames"`
	// LogDetGraphRel is the largest relative disagreement between the float64
	// graph's log-determinant and the CPU's.
	LogDetGraphRel float64 `json:"logdet_graph_rel"`
	// ReductionRMSD is the mean and largest RMSD (nm, after superposition)
	// between a frame and its reduced reconstruction (Reduced mode only).
	ReductionRMSDMean float64 `json:"reduction_rmsd_mean_nm"`
	ReductionRMSDMax  float64 `json:"reduction_rmsd_max_nm"`
	// Reconstructed holds the superposed reduced reconstructions (Reduced
	// mode), for an energy comparison by the caller.
	Reconstructed [][]Vec3 `json:"-"`
}

// CheckSpec measures a fitted Spec on frames: round trips through the CPU
// and the GoMLX transforms (float64 and float32), the log-determinant
// against finite differences on the first logDetFrames frames, and in
// Reduced mode what the reduction costs.
func CheckSpec(s *Spec, backend backends.Backend, frames [][]Vec3, logDetFrames int) (*CheckReport, error) {
	if err := s.checkFitted(); err != nil {
		return nil, err
	}
	if len(frames) == 0 {
		return nil, fmt.Errorf("ic check: no frames")
	}
	z := s.Z
	r := &CheckReport{
		Mode: s.Mode.String(), Atoms: z.NumAtoms(), Coords: z.NumCoords(), Free: s.NumFree(),
		Layers: z.NumLayers(), Classes: map[string]int{}, FreeClass: map[string]int{}, Frames: len(frames),
	}
	coords := z.Coords()
	for _, c := range coords {
		r.Classes[c.Class.String()]++
	}
	for _, k := range s.Free {
		r.FreeClass[coords[k].Class.String()]++
	}

	// CPU reference: the canonical frame (Full) or the reduced rebuild.
	want := make([][]Vec3, len(frames))
	for f, x := range frames {
		canon, _, _ := z.CanonicalFrame(x)
		zf, _, err := s.ToInternal(x)
		if err != nil {
			return nil, fmt.Errorf("frame %d: %w", f, err)
		}
		back, _, err := s.ToCartesian(zf)
		if err != nil {
			return nil, fmt.Errorf("frame %d: %w", f, err)
		}
		if s.Mode == Full {
			r.RoundTripCPU = math.Max(r.RoundTripCPU, maxDisplacement(canon, back))
			want[f] = canon
		} else {
			want[f] = back
			rmsd, _, recon, err := s.ReductionCost(x)
			if err != nil {
				return nil, fmt.Errorf("frame %d: %w", f, err)
			}
			r.ReductionRMSDMean += rmsd / float64(len(frames))
			r.ReductionRMSDMax = math.Max(r.ReductionRMSDMax, rmsd)
			r.Reconstructed = append(r.Reconstructed, recon)
		}
	}

	for _, dt := range []dtypes.DType{dtypes.Float64, dtypes.Float32} {
		worst, ldRel, err := graphRoundTrip(s, backend, dt, frames, want)
		if err != nil {
			return nil, fmt.Errorf("%s graph round trip: %w", dt, err)
		}
		if dt == dtypes.Float64 {
			r.RoundTrip64, r.LogDetGraphRel = worst, ldRel
		} else {
			r.RoundTrip32 = worst
		}
	}

	ic := make([]float64, z.NumCoords())
	for f := 0; f < logDetFrames && f < len(frames); f++ {
		zf, _, err := s.ToInternal(frames[f])
		if err != nil {
			return nil, err
		}
		s.Denormalize(zf, ic)
		fd, err := s.logDetFD(ic)
		if err != nil {
			return nil, fmt.Errorf("frame %d: %w", f, err)
		}
		an := s.LogDetJacobian(ic)
		r.LogDetRel = math.Max(r.LogDetRel, math.Abs(an-fd)/math.Max(math.Abs(fd), 1e-300))
		r.LogDetFrames++
	}
	return r, nil
}

// logDetFD is an independent log-determinant from a central-difference
// Jacobian. Full mode: log|det| of the square map from all D coordinates to
// the 3N-6 canonical coordinates that are not identically zero. Reduced
// mode: the sum of the log norms of each free column on its own atom, the
// quantity Spec.LogDetJacobian defines there.
func (s *Spec) logDetFD(ic []float64) (float64, error) {
	z := s.Z
	cols := s.Free
	j, err := z.JacobianFD(ic, cols, 1e-6)
	if err != nil {
		return 0, err
	}
	if s.Mode == Reduced {
		sum := 0.0
		for c, k := range cols {
			a := z.Coords()[k].Atoms[0]
			sum += math.Log(math.Sqrt(j.At(3*a, c)*j.At(3*a, c) + j.At(3*a+1, c)*j.At(3*a+1, c) + j.At(3*a+2, c)*j.At(3*a+2, c)))
		}
		return sum, nil
	}
	a0, a1, a2 := z.Entries[0].Atom, z.Entries[1].Atom, z.Entries[2].Atom
	zero := map[int]bool{3 * a0: true, 3*a0 + 1: true, 3*a0 + 2: true, 3*a1 + 1: true, 3*a1 + 2: true, 3*a2 + 2: true}
	n := z.NumAtoms()
	if len(cols) != 3*n-6 {
		return 0, fmt.Errorf("full mode with %d free coordinates for %d atoms", len(cols), n)
	}
	sq := mat.NewDense(3*n-6, len(cols), nil)
	row := 0
	for i := 0; i < 3*n; i++ {
		if zero[i] {
			continue
		}
		sq.SetRow(row, j.RawRowView(i))
		row++
	}
	var lu mat.LU
	lu.Factorize(sq)
	ld, _ := lu.LogDet()
	return ld, nil
}

// graphRoundTrip runs frames through the GoMLX transform (ToInternal then
// ToCartesian) in dtype and returns the largest displacement from want and
// the largest relative disagreement of the graph's log-det with the CPU's.
func graphRoundTrip(s *Spec, backend backends.Backend, dt dtypes.DType, frames, want [][]Vec3) (worst, ldRel float64, err error) {
	tr, err := NewTransform(s, dt)
	if err != nil {
		return 0, 0, err
	}
	n := s.Z.NumAtoms()
	exec, err := graph.NewExec(backend, func(x *graph.Node) (*graph.Node, *graph.Node) {
		zf, _ := tr.ToInternal(x)
		return tr.ToCartesian(zf)
	})
	if err != nil {
		return 0, 0, err
	}
	const batch = 32 // one compiled shape: the last batch is padded
	for start := 0; start < len(frames); start += batch {
		flat := make([]float64, 0, batch*n*3)
		for b := 0; b < batch; b++ {
			f := min(start+b, len(frames)-1)
			for _, p := range frames[f] {
				flat = append(flat, p[0], p[1], p[2])
			}
		}
		var in *tensors.Tensor
		if dt == dtypes.Float32 {
			f32 := make([]float32, len(flat))
			for i, v := range flat {
				f32[i] = float32(v)
			}
			in = tensors.FromFlatDataAndDimensions(f32, batch, n, 3)
		} else {
			in = tensors.FromFlatDataAndDimensions(flat, batch, n, 3)
		}
		out, err := exec.Exec(in)
		if err != nil {
			return 0, 0, err
		}
		xs, lds := graphops.Float64s(out[0]), graphops.Float64s(out[1])
		for b := 0; b < batch && start+b < len(frames); b++ {
			f := start + b
			for a := 0; a < n; a++ {
				o := (b*n + a) * 3
				d := math.Sqrt(sq(xs[o]-want[f][a][0]) + sq(xs[o+1]-want[f][a][1]) + sq(xs[o+2]-want[f][a][2]))
				worst = math.Max(worst, d)
			}
			if dt == dtypes.Float64 {
				zf, _, err := s.ToInternal(frames[f])
				if err != nil {
					return 0, 0, err
				}
				_, cpu, err := s.ToCartesian(zf)
				if err != nil {
					return 0, 0, err
				}
				ldRel = math.Max(ldRel, math.Abs(lds[b]-cpu)/math.Max(math.Abs(cpu), 1e-300))
			}
		}
	}
	return worst, ldRel, nil
}

func sq(v float64) float64 { return v * v }

func maxDisplacement(a, b []Vec3) float64 {
	m := 0.0
	for i := range a {
		m = math.Max(m, Distance(a[i], b[i]))
	}
	return m
}
