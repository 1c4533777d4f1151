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
			if !(s.InverseErr64 <= 1e-10 && s.InverseErr32 <= 1e-4 && s.LogDetErr <= 1e-6) {
				t.Errorf("errors too large: inverse %.3g (f64), %.3g (f32), log-det %.3g", s.InverseErr64, s.InverseErr32, s.LogDetErr)
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
