package generator

import (
	"math"
	"strings"
	"testing"

	"github.com/gobg/gobg/flow/ic"
	"github.com/gobg/gobg/internal/testmodel"
)

// methylImages builds, from atom names alone, the 27 relabellings of
// alanine dipeptide's three methyl groups (each turned by 0, 1 or 2 steps),
// independently of the generator's own construction.
func methylImages(t *testing.T, g *Generator) [][]int {
	t.Helper()
	top := g.Topology()
	var groups [][]int
	for _, r := range top.Residues {
		var hs []int
		for _, a := range r.Atoms {
			// ACE and NME name their methyl hydrogens H1-H3 here (HH31-HH33
			// elsewhere); NME's amide hydrogen is H.
			if a.Name == "H1" || a.Name == "H2" || a.Name == "H3" || strings.HasPrefix(a.Name, "HH3") || strings.HasPrefix(a.Name, "HB") {
				hs = append(hs, a.Index)
			}
		}
		if len(hs) != 3 {
			t.Fatalf("%s: methyl hydrogens %v", r, hs)
		}
		groups = append(groups, hs)
	}
	var out [][]int
	for k := range 27 {
		p := identity(g.NumAtoms())
		shift := []int{k % 3, (k / 3) % 3, k / 9}
		for i, hs := range groups {
			for j := range 3 {
				p[hs[j]] = hs[(j+shift[i])%3]
			}
		}
		out = append(out, p)
	}
	return out
}

func permute(p []int, x []float64) []float64 {
	y := make([]float64, len(x))
	for a, from := range p {
		copy(y[3*a:3*a+3], x[3*from:3*from+3])
	}
	return y
}

// TestSymmetrize checks the symmetrised density against its definition,
// computed with the plain flow on relabellings built from atom names; its
// invariance under relabelling; that Sample gives it and relabels samples;
// the image budget; and that reduced mode is refused.
func TestSymmetrize(t *testing.T) {
	path := savedModel(t)
	g, err := Load(path, "", 32)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	plain, err := Load(path, "", 32)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if s, err := g.SetSymmetrize(10); err != nil || s.Images != 9 || len(s.Groups) != 2 || s.Skipped != 1 {
		t.Fatalf("budget 10: %+v, %v; want 9 images of 2 groups, 1 skipped", s, err)
	}
	s, err := g.SetSymmetrize(64)
	if err != nil || s.Images != 27 || len(s.Groups) != 3 || s.Skipped != 0 {
		t.Fatalf("budget 64: %+v, %v; want 27 images of 3 groups", s, err)
	}
	const n = 12
	na := g.NumAtoms()
	pos, lq := make([]float64, n*na*3), make([]float64, n)
	if err := g.Sample(n, 3, pos, lq); err != nil {
		t.Fatal(err)
	}
	// The plain flow's samples with the same seed are the same structures
	// before relabelling.
	pos0, lq0 := make([]float64, n*na*3), make([]float64, n)
	if err := plain.Sample(n, 3, pos0, lq0); err != nil {
		t.Fatal(err)
	}
	images := methylImages(t, g)
	relabelled := 0
	var worstDef, worstInv float64
	for i := range n {
		x := pos[i*na*3 : (i+1)*na*3]
		x0 := pos0[i*na*3 : (i+1)*na*3]
		found := -1
		for k, p := range images {
			y := permute(p, x0)
			same := true
			for j := range y {
				same = same && y[j] == x[j]
			}
			if same {
				found = k
				break
			}
		}
		if found < 0 {
			t.Fatalf("sample %d is no relabelling of the flow's sample", i)
		}
		if found != 0 {
			relabelled++
		}
		// Definition: log of the mean of q over the 27 images.
		all := make([]float64, 0, 27*na*3)
		for _, p := range images {
			all = append(all, permute(p, x)...)
		}
		lqs := make([]float64, 27)
		if err := plain.LogProb(27, all, lqs); err != nil {
			t.Fatal(err)
		}
		var sum float64
		for _, l := range lqs {
			sum += math.Exp(l - lqs[0])
		}
		want := lqs[0] + math.Log(sum/27)
		worstDef = max(worstDef, math.Abs(lq[i]-want))
		// Invariance: any image has the same symmetrised density.
		img := permute(images[(7*i+5)%27], x)
		one := make([]float64, 1)
		if err := g.LogProb(1, img, one); err != nil {
			t.Fatal(err)
		}
		worstInv = max(worstInv, math.Abs(one[0]-lq[i]))
	}
	t.Logf("symmetrised log q: definition %.2e, invariance %.2e; %d of %d samples relabelled", worstDef, worstInv, relabelled, n)
	// Both are exactly 0 on this machine; the limit allows for another
	// summation order.
	if worstDef > 1e-11 || worstInv > 1e-11 {
		t.Errorf("symmetrised log q off its definition by %.3e, not invariant by %.3e (absolute limit 1e-11)", worstDef, worstInv)
	}
	if relabelled == 0 {
		t.Errorf("no sample was relabelled: Sample does not draw from the symmetrised density")
	}
	// Errors name the caller's structure, not an image.
	bad := append([]float64(nil), pos[:2*na*3]...)
	bad[na*3+5] = math.NaN()
	if err := g.LogProb(2, bad, make([]float64, 2)); err == nil || !strings.Contains(err.Error(), "structure 1:") {
		t.Errorf("non-finite structure 1: %v", err)
	}
	if s, err := g.SetSymmetrize(0); err != nil || s.Images != 1 {
		t.Errorf("off: %+v, %v", s, err)
	}
	if _, err := g.SetSymmetrize(-1); err == nil {
		t.Errorf("a negative budget was accepted")
	}
	top, frames := testmodel.ALA2Frames(t, 200, 40)
	f, spec := testmodel.Build(t, top, frames, testmodel.Options{Mode: ic.Reduced, Layers: 2, Hidden: 16, Bins: 4, Seed: 3})
	red, err := Load(testmodel.Save(t, f, spec, "reduced.gobg"), "", 8)
	if err != nil {
		t.Fatal(err)
	}
	defer red.Close()
	if _, err := red.SetSymmetrize(27); err == nil || !strings.Contains(err.Error(), "full mode") {
		t.Errorf("reduced mode: %v, want a refusal naming full mode", err)
	}
}
