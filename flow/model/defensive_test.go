package model

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gobg/gobg/internal/testenv"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
)

// TestDefensiveSampling: samples of the defensive mixture follow its
// density, dimension by dimension (the base is a product, so each marginal
// is the mixture of the two bases' marginals), and the reported log ratio
// is log((1-ε) + ε w(z)/p(z)) with w and p the two bases' densities.
func TestDefensiveSampling(t *testing.T) {
	var syn synthetic
	f, err := New(testenv.Backend(t), smallConfig(ArchNSF), syn.layout(), dtypes.Float64)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.InitFromData(syn.sample(rand.New(rand.NewPCG(1, 2)), 5000), 5000); err != nil {
		t.Fatal(err)
	}
	p, err := f.BaseParams()
	if err != nil {
		t.Fatal(err)
	}
	for _, dims := range [][]bool{nil, {true, true, false, false}, {false, false, true, false}} {
		checkDefensive(t, f, p, syn.layout(), Defensive{Frac: 0.3, Widen: 2, Dims: dims})
	}
}

func checkDefensive(t *testing.T, f *Flow, p BaseParams, l *Layout, d Defensive) {
	const n = 200000
	z, ratio, err := f.SampleBaseDefensive(rand.New(rand.NewPCG(7, 8)), n, d)
	if err != nil {
		t.Fatal(err)
	}
	dim := f.Dim()
	// Per-dimension log densities of the own and the widened base at u
	// (the same for dimensions that are not widened).
	logPW := func(i int, u float64) (lp, lw float64) {
		a, b := (-1-p.Loc[i])/p.Scale[i], (1-p.Loc[i])/p.Scale[i]
		if l.Circular[i] {
			lp, lw = VonMisesLogPDF(u, p.Loc[i], p.Scale[i]), VonMisesLogPDF(u, p.Loc[i], p.Scale[i]/(d.Widen*d.Widen))
		} else {
			lp, lw = TruncNormalLogPDF(u, a, b), TruncNormalLogPDF(u/d.Widen, a/d.Widen, b/d.Widen)-math.Log(d.Widen)
		}
		if d.Dims != nil && !d.Dims[i] {
			lw = lp
		}
		return lp, lw
	}
	for i := range dim {
		lo, hi := -math.Pi, math.Pi
		if !l.Circular[i] {
			lo, hi = (-1-p.Loc[i])/p.Scale[i], (1-p.Loc[i])/p.Scale[i]
		}
		const bins = 24
		counts := make([]float64, bins)
		for s := range n {
			k := int(float64(bins) * (z[s*dim+i] - lo) / (hi - lo))
			counts[min(bins-1, max(0, k))]++
		}
		worst := 0.0
		for k := range bins {
			// Expected mass of the bin by the midpoint rule on 200 points.
			var mass float64
			w := (hi - lo) / bins
			for j := range 200 {
				u := lo + w*(float64(k)+(float64(j)+0.5)/200)
				lp, lw := logPW(i, u)
				mass += ((1-d.Frac)*math.Exp(lp) + d.Frac*math.Exp(lw)) * w / 200
			}
			want := mass * n
			dev := math.Abs(counts[k]-want) / math.Sqrt(want+1)
			worst = math.Max(worst, dev)
		}
		t.Logf("widened %v, dim %d: largest bin deviation %.2f σ", d.Dims, i, worst)
		if worst > 5 {
			t.Errorf("widened %v, dim %d: sample histogram is %.1f σ off the mixture density", d.Dims, i, worst)
		}
	}
	var wide int
	for s := range n {
		var lp, lw float64
		for i := range dim {
			a, b := logPW(i, z[s*dim+i])
			lp, lw = lp+a, lw+b
		}
		want := math.Log((1 - d.Frac) + d.Frac*math.Exp(lw-lp))
		if math.Abs(ratio[s]-want) > 1e-9*math.Max(1, math.Abs(want)) {
			t.Fatalf("sample %d: log ratio %.12g, want %.12g", s, ratio[s], want)
		}
		if ratio[s] > 0 {
			wide++
		}
	}
	if wide == 0 {
		t.Errorf("no sample has a mixture density above the flow's: the widened component is missing")
	}
}

// TestDefensiveInactive: without a widened component the draws are
// SampleBase's, with zero log ratios; bad parameters are refused.
func TestDefensiveInactive(t *testing.T) {
	var syn synthetic
	f, err := New(testenv.Backend(t), smallConfig(ArchNSF), syn.layout(), dtypes.Float64)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []Defensive{{}, {Frac: 0.2, Widen: 1}} {
		z, ratio, err := f.SampleBaseDefensive(rand.New(rand.NewPCG(3, 4)), 50, d)
		if err != nil {
			t.Fatal(err)
		}
		want, err := f.SampleBase(rand.New(rand.NewPCG(3, 4)), 50)
		if err != nil {
			t.Fatal(err)
		}
		for k := range z {
			if z[k] != want[k] {
				t.Fatalf("%+v: value %d is %v, SampleBase gave %v", d, k, z[k], want[k])
			}
		}
		for s, r := range ratio {
			if r != 0 {
				t.Fatalf("%+v: sample %d has log ratio %v", d, s, r)
			}
		}
	}
	for _, tc := range []struct {
		d    Defensive
		want string
	}{
		{Defensive{Frac: 1, Widen: 2}, "fraction"},
		{Defensive{Frac: -0.1, Widen: 2}, "fraction"},
		{Defensive{Frac: math.NaN(), Widen: 2}, "fraction"},
		{Defensive{Frac: 0.1, Widen: 0.5}, "widening"},
		{Defensive{Frac: 0.1}, "widening"},
		{Defensive{Frac: 0.1, Widen: math.Inf(1)}, "widening"},
	} {
		if _, _, err := f.SampleBaseDefensive(rand.New(rand.NewPCG(1, 1)), 1, tc.d); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want one about the %s", tc.d, err, tc.want)
		}
	}
}

func TestWidenDims(t *testing.T) {
	var syn synthetic
	l := syn.layout() // circular: 0 (backbone) and 2 (side chain)
	flat := syn.layout()
	flat.Circular = []bool{false, false, false, false}
	for _, tc := range []struct {
		l     *Layout
		which string
		want  []bool
		n     int // dimensions widened
		err   string
	}{
		{l, WidenAll, nil, 4, ""},
		{l, WidenTorsions, []bool{true, false, true, false}, 2, ""},
		{l, WidenBackboneTorsions, []bool{true, false, false, false}, 1, ""},
		{l, "sidechains", nil, 0, "sidechains"},
		{flat, WidenTorsions, nil, 0, "no torsions"},
	} {
		got, err := WidenDims(tc.l, tc.which)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want one about %q", tc.which, err, tc.err)
			}
			continue
		}
		if err != nil || len(got) != len(tc.want) {
			t.Fatalf("%s: %v, %v; want %v", tc.which, got, err, tc.want)
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("%s: %v, want %v", tc.which, got, tc.want)
				break
			}
		}
		if n := (Defensive{Dims: got}).NumWidened(len(tc.l.Circular)); n != tc.n {
			t.Errorf("%s: %d dimensions widened, want %d", tc.which, n, tc.n)
		}
	}
}
