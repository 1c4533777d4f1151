package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gobg/gobg/internal/testenv"
)

// TestFlowCheck runs `gobg flow check` on alanine dipeptide (full mode,
// every architecture, small configurations) and requires the errors the
// flow tests require.
func TestFlowCheck(t *testing.T) {
	pdb := filepath.Join(testenv.SharedData(t), "ala2.pdb")
	cfgPath := filepath.Join(t.TempDir(), "small.json")
	small := `{"bins": 5, "layers": 4, "backbone_layers": 2, "sidechain_layers": 2, "hidden": [16],
	 "embed": 16, "qk_dim": 8, "gau_layers": 1, "relpos_clip": 4}`
	if err := os.WriteFile(cfgPath, []byte(small), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, arch := range []string{"nsf", "split-gau", "split-mlp"} {
		t.Run(arch, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, "flow", "check", "--arch", arch, "--pdb", pdb, "--mode", "full",
				"--config", cfgPath, "--samples", "2", "--json")
			if code != 0 {
				t.Fatalf("exit %d\n%s", code, stderr)
			}
			var s flowCheckSummary
			lastJSON(t, stdout, &s)
			t.Logf("%+v", s)
			if s.Arch != arch || s.Dim != 60 || s.Params == 0 || s.LogDetMethod != "full-jacobian" {
				t.Errorf("summary %+v", s)
			}
			// docs/flow-bench.md reports inverse errors of 4e-14 to 2.6e-13
			// (float64) and 1e-5 to 7e-5 (float32), forward + inverse
			// log-dets 1.6e-14 and log-det against the full autodiff Jacobian
			// 1.8e-16 to 4.4e-16 relative; here (small flows, perturbation
			// 0.2) 2.7e-15, 1.3e-6, 1.1e-14 and 2.1e-16.
			if !(s.InverseErr64 <= 5e-13 && s.InverseErr32 <= 1e-4 && s.LogDetPair64 <= 1.5e-12 && s.LogDetErr <= 1e-14) {
				t.Errorf("errors too large: inverse %.3g (float64, absolute, limit 5e-13), %.3g (float32, limit 1e-4); "+
					"forward + inverse log-det %.3g (absolute, limit 1.5e-12); log-det vs autodiff %.3g (relative, limit 1e-14)",
					s.InverseErr64, s.InverseErr32, s.LogDetPair64, s.LogDetErr)
			}
			if s.Moved < 0.5 {
				t.Errorf("perturbed flow moved coordinates by only %.3g", s.Moved)
			}
		})
	}
	for name, args := range map[string][]string{
		"no pdb":         {"flow", "check", "--arch", "nsf"},
		"bad arch":       {"flow", "check", "--arch", "glow", "--pdb", pdb},
		"bad subcommand": {"flow", "bake"},
		"no subcommand":  {"flow"},
		"bad method":     {"flow", "check", "--arch", "nsf", "--pdb", pdb, "--method", "guess"},
	} {
		code, _, stderr := runCLI(t, args...)
		if code != 2 {
			t.Errorf("%s: exit %d, want 2\n%s", name, code, stderr)
		}
	}
	code, _, stderr := runCLI(t, "flow", "check", "--arch", "nsf", "--pdb", filepath.Join(t.TempDir(), "none.pdb"))
	if code != 1 || !strings.Contains(stderr, "none.pdb") {
		t.Errorf("missing PDB: exit %d, stderr %q", code, stderr)
	}
}
