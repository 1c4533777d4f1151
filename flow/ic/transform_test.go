package ic

import (
	"fmt"
	"math"
	"testing"

	"github.com/gobg/gobg/internal/testenv"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

type graphExecs struct {
	tr       *Transform
	internal *Exec // x -> all internal coordinates
	toInt    *Exec // x -> z, logdet
	toCart   *Exec // z -> x, logdet
}

func newExecs(t testing.TB, spec *Spec, dt dtypes.DType) *graphExecs {
	t.Helper()
	tr, err := NewTransform(spec, dt)
	if err != nil {
		t.Fatal(err)
	}
	b := testenv.Backend(t)
	return &graphExecs{
		tr:       tr,
		internal: MustNewExec(b, func(x *Node) *Node { return tr.Internal(x) }),
		toInt:    MustNewExec(b, func(x *Node) (*Node, *Node) { return tr.ToInternal(x) }),
		toCart:   MustNewExec(b, func(z *Node) (*Node, *Node) { return tr.ToCartesian(z) }),
	}
}

func unflatten(flat []float64, b, n int) [][]Vec3 {
	out := make([][]Vec3, b)
	for f := range out {
		out[f] = make([]Vec3, n)
		for i := range out[f] {
			k := (f*n + i) * 3
			out[f][i] = Vec3{flat[k], flat[k+1], flat[k+2]}
		}
	}
	return out
}

// TestTransformRoundTrip runs the graph transform on MD frames and the
// reference structures, in float64 and float32, Full and Reduced mode, and
// compares with the CPU reference: positions from ToCartesian(ToInternal(x))
// against x in the canonical frame (Full) or the CPU reconstruction
// (Reduced), all internal coordinates against ZMatrix.Internal, and both
// log-dets against the CPU ones.
func TestTransformRoundTrip(t *testing.T) {
	hpFrames := 16
	if !testing.Short() {
		hpFrames = 0 // all of the fixture's 200
	}
	const batch = 250
	for _, tc := range []struct {
		sys     string
		frames  int
		mode    Mode
		windows bool // narrow torsions on intervals (FitTorsionWindows)
	}{
		{"hp35", hpFrames, Full, false},
		{"hp35", 16, Reduced, false},
		{"hp35", 16, Reduced, true},
		{"protein_g", 8, Full, false},
		{"protein_g", 8, Reduced, false},
		{"ala2", 8, Full, false},
		{"ala2", 8, Full, true},
	} {
		s := loadSystem(t, tc.sys, true)
		spec, err := FitSpec(s.z, s.frames, tc.mode)
		if err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("%s/%s", tc.sys, tc.mode)
		if tc.windows {
			n, err := spec.FitTorsionWindows(s.frames, math.Pi)
			if err != nil || n == 0 {
				t.Fatalf("%s: %d torsion windows, %v", tc.sys, n, err)
			}
			name += "/windows"
		}
		frames := append([][]Vec3{s.pdb}, sample(s.frames, tc.frames)...)
		for _, dt := range []dtypes.DType{dtypes.Float64, dtypes.Float32} {
			t.Run(fmt.Sprintf("%s/%s", name, dt), func(t *testing.T) {
				// docs/status.md: positions 3.6e-14 nm (float64; all 2001 HP35
				// structures in full mode) and 1.35e-5 nm (float32; protein G
				// 2.3e-5), the flow vector against the host's normalisation
				// 2.4e-15 (windows included). Measured besides: internal
				// coordinates 4.4e-16 (float64) and 7.5e-6 (float32), flow
				// vector 7.1e-5 (float32), log-det 1.3e-11 absolute at |ld| ~
				// 2500 (float64) and 2.2e-6 relative (float32).
				tol, icTol, zTol, ldTol := 1e-12, 1e-14, 5e-14, 3e-10 // nm, rad, flow units, nats (absolute)
				if dt == dtypes.Float32 {
					tol, icTol, zTol, ldTol = 1e-4, 1e-4, 1e-3, 2e-5 // ldTol relative for float32
				}
				g := newExecs(t, spec, dt)
				n := s.z.NumAtoms()
				circ := spec.Circular()
				worst, worstIC, worstLD, worstZ := 0.0, 0.0, 0.0, 0.0
				for start := 0; start < len(frames); start += batch {
					chunk := frames[start:min(start+batch, len(frames))]
					if len(chunk) < batch && len(frames) > batch {
						chunk = frames[len(frames)-batch:] // keep one shape: one compilation
					}
					xin := tensorOf(dt, positionsFlat(chunk), len(chunk), n, 3)
					all := flat64(t, g.internal.MustExec(xin)[0])
					zl := g.toInt.MustExec(xin)
					out := g.toCart.MustExec(zl[0])
					xs := unflatten(flat64(t, out[0]), len(chunk), n)
					ldIn, ldOut := flat64(t, zl[1]), flat64(t, out[1])
					ic := make([]float64, s.z.NumCoords())
					for f, x := range chunk {
						want, err := spec.Reconstruct(x)
						if err != nil {
							t.Fatal(err)
						}
						worst = math.Max(worst, maxDev(xs[f], want))
						_ = s.z.Internal(x, ic)
						for k, v := range ic {
							d := math.Abs(all[f*len(ic)+k] - v)
							if s.z.Coords()[k].Kind == Torsion {
								d = math.Abs(wrapAngle(all[f*len(ic)+k] - v))
							}
							worstIC = math.Max(worstIC, d)
						}
						zh, ld, _ := spec.ToInternal(x)
						zg := flat64(t, zl[0])[f*len(zh) : (f+1)*len(zh)]
						for j := range zh {
							d := math.Abs(zg[j] - zh[j])
							if circ[j] { // float32 may round a torsion near ±pi to the other end
								d = math.Abs(wrapAngle(zg[j] - zh[j]))
							}
							worstZ = math.Max(worstZ, d)
						}
						e := math.Max(math.Abs(ldIn[f]-ld), math.Abs(ldOut[f]+ld))
						if dt == dtypes.Float32 {
							e /= math.Abs(ld)
						}
						worstLD = math.Max(worstLD, e)
					}
				}
				t.Logf("%d structures: max position error %.3g nm, internal coordinates %.3g, flow vector %.3g, log-det %.3g",
					len(frames), worst, worstIC, worstZ, worstLD)
				if worst > tol || worstIC > icTol || worstZ > zTol || worstLD > ldTol {
					t.Errorf("errors (absolute; log-det relative in float32): positions %g nm (tol %g), internal coordinates %g (tol %g), "+
						"flow vector %g (tol %g), log-det %g (tol %g)", worst, tol, worstIC, icTol, worstZ, zTol, worstLD, ldTol)
				}
			})
		}
	}
}

// TestTransformShapeErrors: wrong shapes are reported as errors by Exec.
func TestTransformShapeErrors(t *testing.T) {
	s := loadSystem(t, "ala2", false)
	spec, _ := FitSpec(s.z, [][]Vec3{s.pdb}, Full)
	g := newExecs(t, spec, dtypes.Float64)
	if _, err := g.toCart.Exec(tensors.FromFlatDataAndDimensions(make([]float64, 2*7), 2, 7)); err == nil {
		t.Error("ToCartesian accepted a [2, 7] input")
	}
	if _, err := g.toInt.Exec(tensors.FromFlatDataAndDimensions(make([]float64, 2*5*3), 2, 5, 3)); err == nil {
		t.Error("ToInternal accepted a [2, 5, 3] input")
	}
	if _, err := NewTransform(spec, dtypes.Int32); err == nil {
		t.Error("int32 transform accepted")
	}
}
