package generator

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gobg/gobg/flow/ic"
	"github.com/gobg/gobg/internal/testmodel"
)

// savedModel writes a randomly perturbed float64 nsf flow over alanine
// dipeptide (full mode, spec fitted to 500 MD frames) and returns its path.
func savedModel(t *testing.T) string {
	t.Helper()
	top, frames := testmodel.ALA2Frames(t, 500, 40)
	f, spec := testmodel.Build(t, top, frames, testmodel.Options{Mode: ic.Full, Layers: 4, Hidden: 32, Bins: 6, Perturb: 0.3, Seed: 3})
	return testmodel.Save(t, f, spec, "ala2.gobg")
}

// TestSampleLogProb checks that the density of sampled structures, computed
// again from their positions, equals the density reported by the sampler;
// that it is invariant under rigid motion; and that padding a short batch
// does not change results.
func TestSampleLogProb(t *testing.T) {
	g, err := Load(savedModel(t), "", 8)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	const n = 11 // one full batch of 8 and a padded one
	na := g.NumAtoms()
	pos, lq := make([]float64, n*na*3), make([]float64, n)
	if err := g.Sample(n, 5, pos, lq); err != nil {
		t.Fatal(err)
	}
	lp := make([]float64, n)
	if err := g.LogProb(n, pos, lp); err != nil {
		t.Fatal(err)
	}
	// A rotation about an oblique axis and a shift.
	moved := make([]float64, len(pos))
	c, s := math.Cos(1.1), math.Sin(1.1)
	for i := 0; i < len(pos); i += 3 {
		x, y, z := pos[i], pos[i+1], pos[i+2]
		moved[i], moved[i+1], moved[i+2] = c*x-s*y+0.7, s*x+c*y-1.3, z+2.2
	}
	lm := make([]float64, n)
	if err := g.LogProb(n, moved, lm); err != nil {
		t.Fatal(err)
	}
	var worst, worstMoved float64
	for i := range n {
		if math.IsNaN(lq[i]) || math.IsInf(lq[i], 0) {
			t.Fatalf("sample %d: log q = %v", i, lq[i])
		}
		worst = math.Max(worst, math.Abs(lp[i]-lq[i]))
		worstMoved = math.Max(worstMoved, math.Abs(lm[i]-lq[i]))
	}
	t.Logf("log q: sampler vs log_prob %.2e, after rigid motion %.2e", worst, worstMoved)
	// Measured 4.3e-13 and 4.2e-12 nats.
	if worst > 1e-11 || worstMoved > 1e-10 {
		t.Errorf("log q disagrees: %.3e (same positions, limit 1e-11), %.3e (moved, limit 1e-10); absolute, nats", worst, worstMoved)
	}
	// Single structures give what the batch gave.
	one := make([]float64, 1)
	if err := g.LogProb(1, pos[3*na*3:4*na*3], one); err != nil {
		t.Fatal(err)
	}
	t.Logf("single structure against its batch: %.2e nats", math.Abs(one[0]-lp[3]))
	if math.Abs(one[0]-lp[3]) > 1e-11 {
		t.Errorf("single-structure log q %.15g, in batch %.15g (absolute limit 1e-11)", one[0], lp[3])
	}
	// The same seed gives the same structures.
	again, lq2 := make([]float64, n*na*3), make([]float64, n)
	if err := g.Sample(n, 5, again, lq2); err != nil {
		t.Fatal(err)
	}
	for i := range again {
		if again[i] != pos[i] {
			t.Fatalf("same seed, position %d differs: %v vs %v", i, again[i], pos[i])
		}
	}
}

func TestErrors(t *testing.T) {
	g, err := Load(savedModel(t), "", 4)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	na := g.NumAtoms()
	pos, lq := make([]float64, 3*na*3), make([]float64, 3)
	if err := g.Sample(3, 1, pos, lq); err != nil {
		t.Fatal(err)
	}
	bad := append([]float64(nil), pos...)
	bad[2*na*3+5] = math.NaN()
	for _, c := range []struct {
		name string
		err  error
		want string
	}{
		{"nan", g.LogProb(3, bad, make([]float64, 3)), "structure 2: atom 1 has non-finite"},
		{"short positions", g.LogProb(3, pos[:10], make([]float64, 3)), "needs"},
		{"short output", g.Sample(3, 1, pos, lq[:2]), "needs"},
	} {
		if c.err == nil || !strings.Contains(c.err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, c.err, c.want)
		}
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.gobg"), "", 0); err == nil || !strings.Contains(err.Error(), "missing.gobg") {
		t.Errorf("missing file: error %v, want one naming it", err)
	}
}

// TestTemperature: a generator reports the training temperature its file
// records, falls back to energy.DefaultTemperature for a file without one, and
// warns exactly where a caller's temperature is not the recorded one or
// none is recorded.
func TestTemperature(t *testing.T) {
	top, frames := testmodel.ALA2Frames(t, 50, 40)
	f, spec := testmodel.Build(t, top, frames, testmodel.Options{Mode: ic.Full, Layers: 1, Hidden: 8, Bins: 4})
	cases := []struct {
		name     string
		path     string
		want     float64
		recorded bool
		at       float64
		warn     []string // substrings of the warning; nil: no warning
	}{
		{"recorded, same", testmodel.SaveAt(t, f, spec, "a.gobg", 310), 310, true, 310, nil},
		{"recorded, other", testmodel.SaveAt(t, f, spec, "b.gobg", 310), 310, true, 300, []string{"300 K", "trained at 310 K"}},
		{"unrecorded, default", testmodel.Save(t, f, spec, "c.gobg"), 300, false, 300, []string{"does not record", "assuming 300 K"}},
		{"unrecorded, other", testmodel.Save(t, f, spec, "d.gobg"), 300, false, 350, []string{"working at 350 K", "does not record", "300 K assumed"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g, err := Load(c.path, "", 1)
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			if k, rec := g.Temperature(); k != c.want || rec != c.recorded {
				t.Errorf("Temperature() = %v, %v; want %v, %v", k, rec, c.want, c.recorded)
			}
			w := g.TemperatureWarning(c.at)
			if (w == "") != (c.warn == nil) {
				t.Fatalf("warning %q at %v K", w, c.at)
			}
			for _, s := range c.warn {
				if !strings.Contains(w, s) || !strings.Contains(w, c.path) {
					t.Errorf("warning %q lacks %q or the model's path", w, s)
				}
			}
		})
	}
}
