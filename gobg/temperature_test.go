package main

import (
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gobg/gobg/energy"
	"github.com/gobg/gobg/flow/ic"
	"github.com/gobg/gobg/internal/testenv"
	"github.com/gobg/gobg/internal/testmodel"
)

// TestModelTemperatureDefaults: sample, eval and mcmc work at the
// temperature the model file records unless told another, warn when told
// another, and assume 300 K with a warning for a file that records none.
// The sample case with energies checks that the default reaches the log
// weights.
func TestModelTemperatureDefaults(t *testing.T) {
	py := testenv.Python(t)
	data := testenv.SharedData(t)
	top, frames := testmodel.ALA2Frames(t, 200, 1)
	f, spec := testmodel.Build(t, top, frames, testmodel.Options{Mode: ic.Full, Layers: 2, Hidden: 16, Bins: 4, Perturb: 0.05, Seed: 3})
	at310 := testmodel.SaveAt(t, f, spec, "ala2-310.gobg", 310)
	old := testmodel.Save(t, f, spec, "ala2-old.gobg")
	mdTraj := filepath.Join(data, "md", "ala2", "traj.dcd")
	mdTop := filepath.Join(data, "md", "ala2", "top.pdb")

	cases := []struct {
		name string
		args []string
		want float64
		warn []string // nil: no warning
	}{
		{"sample, recorded", []string{"sample", "--model", at310, "--n", "4", "--batch", "4", "--energy", "native"}, 310, nil},
		{"sample, told another", []string{"sample", "--model", at310, "--n", "2", "--batch", "2", "--energy", "none", "--temperature", "300"}, 300,
			[]string{"working at 300 K", "trained at 310 K"}},
		{"sample, older file", []string{"sample", "--model", old, "--n", "2", "--batch", "2", "--energy", "none"}, 300,
			[]string{"does not record the temperature", "assuming 300 K"}},
		{"sample, older file, told another", []string{"sample", "--model", old, "--n", "2", "--batch", "2", "--energy", "none", "--temperature", "320"}, 320,
			[]string{"working at 320 K", "300 K assumed"}},
		{"eval, recorded", []string{"eval", "--model", at310, "--data", mdTraj, "--n", "8", "--md-frames", "20", "--batch", "8"}, 310, nil},
		{"eval, told another", []string{"eval", "--model", at310, "--data", mdTraj, "--n", "8", "--md-frames", "20", "--batch", "8", "--temperature", "290"}, 290,
			[]string{"working at 290 K", "trained at 310 K"}},
		{"mcmc, recorded", []string{"mcmc", "--model", at310, "--pdb", mdTop, "--ns", "0.0002", "--save-ps", "0.1", "--every", "10", "--batch", "8", "--seed", "3"}, 310, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := t.TempDir()
			args := append([]string{}, c.args...)
			switch args[0] {
			case "sample":
				args = append(args, "--out", filepath.Join(out, "s.dcd"))
			case "eval":
				args = append(args, "--out", filepath.Join(out, "r.json"))
			case "mcmc":
				args = append(args, "--out", filepath.Join(out, "run"))
			}
			code, stdout, stderr := runCLI(t, append(args, "--python", py, "--json")...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			// Every command's summary names the temperature so.
			var s struct {
				Temperature float64 `json:"temperature_K"`
			}
			lastJSON(t, stdout, &s)
			if got := s.Temperature; got != c.want {
				t.Errorf("worked at %v K, want %v K", got, c.want)
			}
			warned := strings.Contains(stderr, "warning: ")
			if warned != (c.warn != nil) {
				t.Errorf("warning printed: %v, want %v:\n%s", warned, c.warn != nil, stderr)
			}
			for _, w := range c.warn {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			if c.name != "sample, recorded" {
				return
			}
			kT := energy.KT(c.want)
			rows := readCSV(t, filepath.Join(out, "s.csv"))
			for i, r := range rows[1:] {
				lq, _ := strconv.ParseFloat(r[1], 64)
				e, _ := strconv.ParseFloat(r[2], 64)
				lw, _ := strconv.ParseFloat(r[3], 64)
				if d := math.Abs(lw - (-e/kT - lq)); !(d <= 1e-9*math.Max(1, math.Abs(lw))) {
					t.Errorf("sample %d: log w %g, want %g (at %v K)", i, lw, -e/kT-lq, c.want)
				}
			}
		})
	}
}
