package train

import (
	"context"
	"math"
	"path/filepath"
	"testing"

	"github.com/gobg/gobg/energy/molecule"
	"github.com/gobg/gobg/internal/testmodel"
)

// TestInitModelOtherAtomOrder fine-tunes a saved model on data whose
// topology names and orders the atoms otherwise (and whose trajectory is in
// that order): the run is the one on data in the model's own order. The
// frames are reordered into the model's order, and the KL stage's energies,
// from the System OpenMM builds for the renamed topology, are those of the
// same structures.
func TestInitModelOtherAtomOrder(t *testing.T) {
	if testing.Short() {
		t.Skip("starts OpenMM workers")
	}
	first := tinyConfig(t, 3, 0)
	a := newTrainer(t, first, Options{})
	if _, err := a.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	saved := filepath.Join(first.Output, ModelFile)

	same := tinyConfig(t, 1, 2)
	same.InitModel = saved
	b := newTrainer(t, same, Options{})
	if b.data.Match != nil {
		t.Fatalf("the model's own topology was reordered")
	}

	dir := t.TempDir()
	pdb, perm := testmodel.ALA2Renamed(t, dir)
	r, err := molecule.OpenDCD(same.Data.Trajectories[0])
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	dcd := filepath.Join(dir, "renamed.dcd")
	w, err := molecule.CreateDCD(dcd, len(perm), molecule.DCDOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for range same.Data.MaxFrames {
		f, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Write(testmodel.Permute(f.Positions, perm), nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	other := tinyConfig(t, 1, 2)
	other.InitModel = saved
	other.Data.Topology, other.Data.Trajectories = pdb, []string{dcd}
	c := newTrainer(t, other, Options{})
	if c.data.Match == nil || len(c.data.Train) != len(b.data.Train) {
		t.Fatalf("renamed data: match %v, %d training frames (want %d)", c.data.Match, len(c.data.Train), len(b.data.Train))
	}
	for k := range b.data.Train {
		for i := range b.data.Train[k] {
			if c.data.Train[k][i] != b.data.Train[k][i] {
				t.Fatalf("training frame %d, atom %d: %v from the renamed data, %v from the model's order", k, i, c.data.Train[k][i], b.data.Train[k][i])
			}
		}
	}
	sb, err := b.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	sc, err := c.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(sb.Losses) != 3 || len(sc.Losses) != 3 {
		t.Fatalf("losses %v and %v, want 3 steps each", sb.Losses, sc.Losses)
	}
	for k := range sb.Losses {
		if d := math.Abs(sc.Losses[k] - sb.Losses[k]); !(d <= 1e-9*math.Max(1, math.Abs(sb.Losses[k]))) {
			t.Errorf("step %d: loss %.12g on the renamed data, %.12g in the model's order", k, sc.Losses[k], sb.Losses[k])
		}
	}
	t.Logf("losses %v", sc.Losses)
}
