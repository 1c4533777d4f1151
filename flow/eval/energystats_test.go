package eval

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/gobg/gobg/internal/testenv"
)

// TestQuantilesNumpy compares Quantiles with numpy.percentile (linear
// interpolation, numpy's default) on random data.
func TestQuantilesNumpy(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	ps := []float64{0, 0.05, 0.25, 0.5, 0.75, 0.95, 1}
	var sets [][]float64
	var args []string
	for _, n := range []int{1, 2, 7, 101} {
		x := make([]float64, n)
		s := make([]string, n)
		for i := range x {
			x[i] = math.Round(rng.NormFloat64()*1e6) / 1e3 // exact in decimal
			s[i] = strconv.FormatFloat(x[i], 'g', -1, 64)
		}
		sets = append(sets, x)
		args = append(args, strings.Join(s, ","))
	}
	out := testenv.RunPython(t, `
import sys, json, numpy as np
res = []
for arg in sys.argv[1:]:
    x = np.array([float(v) for v in arg.split(",")])
    res.append([float(np.percentile(x, p)) for p in (0, 5, 25, 50, 75, 95, 100)])
print(json.dumps(res))
`, args...)
	var want [][]float64
	if err := json.Unmarshal(out, &want); err != nil {
		t.Fatal(err)
	}
	for k, x := range sets {
		got := Quantiles(x, ps)
		for i := range ps {
			if math.Abs(got[i]-want[k][i]) > 1e-9*math.Max(1, math.Abs(want[k][i])) {
				t.Errorf("n = %d, p = %g: %v, numpy %v", len(x), ps[i], got[i], want[k][i])
			}
		}
	}
}

func TestEnergyStats(t *testing.T) {
	inf := math.Inf(1)
	for _, c := range []struct {
		name      string
		e         []float64
		lowerHalf float64
		median    float64
		q95       float64
		nonFinite int
		mean      float64
	}{
		// lower half of 4 = the two lowest: (1+2)/2.
		{"plain", []float64{4, 1, 3, 2}, 1.5, 2.5, 3.85, 0, 2.5},
		// odd N: floor(5/2) = 2 lowest.
		{"odd", []float64{10, -5, 0, 7, 3}, -2.5, 3, 9.4, 0, 3},
		// NaN and -Inf rank as +Inf: sorted 1, 2, Inf, Inf.
		{"non-finite", []float64{math.NaN(), 2, math.Inf(-1), 1}, 1.5, inf, inf, 2, 1.5},
		// more than half broken: the lower half holds +Inf.
		{"mostly broken", []float64{math.NaN(), math.NaN(), math.NaN(), 5}, inf, inf, inf, 3, 5},
		{"one", []float64{-3}, -3, -3, -3, 0, -3},
	} {
		st := SummarizeEnergies(c.e)
		if float64(st.LowerHalfMean) != c.lowerHalf {
			t.Errorf("%s: lower-half mean %v, want %v", c.name, st.LowerHalfMean, c.lowerHalf)
		}
		if got := LowerHalfMean(c.e); got != c.lowerHalf {
			t.Errorf("%s: LowerHalfMean %v, want %v", c.name, got, c.lowerHalf)
		}
		q := map[float64]float64{}
		for _, v := range st.Quantiles {
			q[v.P] = float64(v.Value)
		}
		if math.Abs(q[0.5]-c.median) > 1e-12 && q[0.5] != c.median {
			t.Errorf("%s: median %v, want %v", c.name, q[0.5], c.median)
		}
		if math.Abs(q[0.95]-c.q95) > 1e-12 && q[0.95] != c.q95 {
			t.Errorf("%s: q95 %v, want %v", c.name, q[0.95], c.q95)
		}
		if st.NonFinite != c.nonFinite || st.NonFiniteFraction != float64(c.nonFinite)/float64(len(c.e)) {
			t.Errorf("%s: non-finite %d (%g), want %d", c.name, st.NonFinite, st.NonFiniteFraction, c.nonFinite)
		}
		if math.Abs(float64(st.Mean)-c.mean) > 1e-12 {
			t.Errorf("%s: mean of finite %v, want %v", c.name, st.Mean, c.mean)
		}
		if _, err := json.Marshal(st); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}

func TestFloatJSON(t *testing.T) {
	in := []Float{1.5, Float(math.NaN()), Float(math.Inf(1)), Float(math.Inf(-1)), -2e-300}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if want := `[1.5,null,"+Inf","-Inf",-2e-300]`; string(b) != want {
		t.Errorf("marshal: %s, want %s", b, want)
	}
	var out []Float
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	for i := range in {
		a, b := float64(in[i]), float64(out[i])
		if a != b && !(math.IsNaN(a) && math.IsNaN(b)) {
			t.Errorf("round trip %d: %v -> %v", i, a, b)
		}
	}
	var f Float
	if err := json.Unmarshal([]byte(`"x"`), &f); err == nil {
		t.Error("unmarshal of a non-number: no error")
	}
}
