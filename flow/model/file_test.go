package model

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gobg/gobg/flow/ic"
	"github.com/gobg/gobg/internal/testenv"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
)

// TestSaveLoad writes perturbed flows with their specs and reads them back:
// the loaded flow must give bit-identical log-densities and samples, the
// spec identical arrays and Z-matrix, and the directory no temporary files.
func TestSaveLoad(t *testing.T) {
	cases := []struct {
		sys  string
		mode ic.Mode
		arch string
		dt   dtypes.DType
	}{
		{"ala2", ic.Full, ArchSplitGAU, dtypes.Float64},
		{"ala2", ic.Full, ArchNSF, dtypes.Float32},
		{"hp35", ic.Reduced, ArchSplitMLP, dtypes.Float64},
	}
	for _, c := range cases {
		t.Run(c.sys+"/"+c.arch+"/"+c.dt.String(), func(t *testing.T) {
			s := loadSystem(t, c.sys, c.mode)
			l, err := LayoutFromSpec(s.spec)
			if err != nil {
				t.Fatal(err)
			}
			f0 := perturbedFlow(t, smallConfig(c.arch), l, perturbScale)
			f := f0
			if c.dt != dtypes.Float64 {
				if f, err = f0.WithDType(c.dt); err != nil {
					t.Fatal(err)
				}
			}
			dir := t.TempDir()
			path := filepath.Join(dir, "model.gobg")
			// Write twice: the second replaces the first.
			for range 2 {
				if err := Save(path, f, s.spec); err != nil {
					t.Fatal(err)
				}
			}
			entries, _ := os.ReadDir(dir)
			if len(entries) != 1 {
				t.Errorf("directory holds %d entries after saving, want 1", len(entries))
			}
			g, spec, err := Load(path, testenv.Backend(t))
			if err != nil {
				t.Fatal(err)
			}
			if g.DType() != c.dt || g.NumParams() != f.NumParams() || g.Config().Arch != c.arch {
				t.Errorf("loaded %s flow with %d params (%s), saved %s with %d", g.DType(), g.NumParams(), g.Config().Arch, c.dt, f.NumParams())
			}
			if spec == nil {
				t.Fatal("no spec loaded")
			}
			if spec.Mode != s.spec.Mode || spec.Frames != s.spec.Frames || !slices.Equal(spec.Free, s.spec.Free) ||
				!slices.Equal(spec.Ref, s.spec.Ref) || !slices.Equal(spec.Lo, s.spec.Lo) || !slices.Equal(spec.Hi, s.spec.Hi) ||
				!slices.Equal(spec.Z.Entries, s.spec.Z.Entries) {
				t.Errorf("loaded spec differs from the saved one")
			}
			for k, coord := range spec.Z.Coords() {
				if coord != s.spec.Z.Coords()[k] {
					t.Fatalf("coordinate %d: loaded %+v, saved %+v", k, coord, s.spec.Z.Coords()[k])
				}
			}
			r1, _ := f.NewRunner(16)
			r2, _ := g.NewRunner(16)
			x1, lq1, err := r1.Sample(20, 4)
			if err != nil {
				t.Fatal(err)
			}
			x2, lq2, err := r2.Sample(20, 4)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(x1, x2) || !slices.Equal(lq1, lq2) {
				t.Errorf("loaded flow samples differently")
			}
			// Structures from the loaded spec equal those of the original.
			z := make([]float64, s.spec.NumFree())
			copy(z, x1[:len(z)])
			p1, ld1, err := s.spec.ToCartesian(z)
			if err != nil {
				t.Fatal(err)
			}
			p2, ld2, err := spec.ToCartesian(z)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(p1, p2) || ld1 != ld2 {
				t.Errorf("loaded spec rebuilds structures differently")
			}
		})
	}
}

// TestSaveLoadWithoutSpec: a flow on a plain layout round-trips too.
func TestSaveLoadWithoutSpec(t *testing.T) {
	var syn synthetic
	f := perturbedFlow(t, smallConfig(ArchSplitGAU), syn.layout(), perturbScale)
	path := filepath.Join(t.TempDir(), "synthetic.gobg")
	if err := Save(path, f, nil); err != nil {
		t.Fatal(err)
	}
	g, spec, err := Load(path, testenv.Backend(t))
	if err != nil {
		t.Fatal(err)
	}
	if spec != nil {
		t.Errorf("spec %v loaded from a file without one", spec)
	}
	x := syn.sample(rand.New(rand.NewPCG(1, 2)), 10)
	r1, _ := f.NewRunner(10)
	r2, _ := g.NewRunner(10)
	a, _ := r1.LogProb(x)
	b, _ := r2.LogProb(x)
	if !slices.Equal(a, b) {
		t.Errorf("log-densities differ after loading: %v vs %v", a, b)
	}
}

// TestLoadCorrupt: damaged or foreign files give errors that name the
// file.
func TestLoadCorrupt(t *testing.T) {
	var syn synthetic
	f := perturbedFlow(t, smallConfig(ArchNSF), syn.layout(), perturbScale)
	dir := t.TempDir()
	good := filepath.Join(dir, "good.gobg")
	if err := Save(good, f, nil); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	// Uncompressed archive, to damage entries selectively.
	tarData := bytes.NewBuffer(gunzip(t, data))
	flipWeights := bytes.Clone(tarData.Bytes())
	idx := bytes.LastIndex(flipWeights, []byte("weights.bin"))
	flipWeights[idx+600] ^= 0xff // inside the weights' data (header is 512 bytes)
	badManifest := bytes.Replace(tarData.Bytes(), []byte(`"format": "gobg-flow"`), []byte(`"format": "gobg-flaw"`), 1)
	flipped := bytes.Clone(data)
	flipped[len(flipped)/2] ^= 0x55
	cases := map[string][]byte{
		"truncated":      data[:len(data)/2],
		"flipped byte":   flipped,
		"not gzip":       []byte("this is not a model file\n"),
		"empty":          nil,
		"weights":        regzip(flipWeights),
		"format":         regzip(badManifest),
		"no entries":     regzip(make([]byte, 1024)),
		"plain tar data": tarData.Bytes(),
	}
	for name, content := range cases {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".gobg")
		if err := os.WriteFile(path, content, 0o644); err != nil {
			t.Fatal(err)
		}
		_, _, err := Load(path, testenv.Backend(t))
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		t.Logf("%s: %v", name, err)
		if !strings.Contains(err.Error(), path) {
			t.Errorf("%s: error %q does not name the file", name, err)
		}
	}
	if _, _, err := Load(filepath.Join(dir, "missing.gobg"), testenv.Backend(t)); err == nil || !strings.Contains(err.Error(), "missing.gobg") {
		t.Errorf("missing file: %v", err)
	}
}

// TestLoadVersion1 checks the format-version rules: version-1 nsf and
// split-mlp files load; a version-1 split-gau (before its heads were fused)
// and unknown versions are refused with a clear error.
func TestLoadVersion1(t *testing.T) {
	var syn synthetic
	dir := t.TempDir()
	for _, c := range []struct {
		arch, version, want string
	}{
		{ArchNSF, "1", ""},
		{ArchSplitMLP, "1", ""},
		{ArchSplitGAU, "1", "train it again"},
		{ArchNSF, "2", ""},
		{ArchNSF, "9", "reads versions 1 to 3"},
	} {
		f := perturbedFlow(t, smallConfig(c.arch), syn.layout(), perturbScale)
		path := filepath.Join(dir, c.arch+"-v"+c.version+".gobg")
		if err := Save(path, f, nil); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		tarData := gunzip(t, data)
		old := bytes.Replace(tarData, []byte(`"version": 3`), []byte(`"version": `+c.version), 1)
		if bytes.Equal(old, tarData) {
			t.Fatalf("%s: no version field found in the manifest", c.arch)
		}
		if err := os.WriteFile(path, regzip(old), 0o644); err != nil {
			t.Fatal(err)
		}
		_, _, err = Load(path, testenv.Backend(t))
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s version %s: %v", c.arch, c.version, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), path)):
			t.Errorf("%s version %s: error %v, want one naming the file and containing %q", c.arch, c.version, err, c.want)
		}
	}
}

// TestTemperatureRecord checks the training temperature in the manifest: it
// round-trips exactly, a file without it (Save, or format versions 1 and 2)
// loads with the temperature unknown, and a bad value or one in a version
// that predates the field is refused with an error naming the file.
func TestTemperatureRecord(t *testing.T) {
	var syn synthetic
	f := perturbedFlow(t, smallConfig(ArchNSF), syn.layout(), perturbScale)
	dir := t.TempDir()
	for _, temp := range []float64{300, 312.15, 1e-3} {
		path := filepath.Join(dir, "t.gobg")
		if err := SaveWithInfo(path, f, nil, FileInfo{TemperatureK: temp}); err != nil {
			t.Fatal(err)
		}
		_, _, info, err := LoadWithInfo(path, testenv.Backend(t))
		if err != nil {
			t.Fatal(err)
		}
		if info.TemperatureK != temp {
			t.Errorf("saved %v K, loaded %v K", temp, info.TemperatureK)
		}
	}
	for _, bad := range []float64{-1, math.Inf(1), math.NaN()} {
		if err := SaveWithInfo(filepath.Join(dir, "bad.gobg"), f, nil, FileInfo{TemperatureK: bad}); err == nil {
			t.Errorf("SaveWithInfo accepted %v K", bad)
		}
	}

	plain := filepath.Join(dir, "plain.gobg")
	if err := Save(plain, f, nil); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(plain)
	if err != nil {
		t.Fatal(err)
	}
	tarData := gunzip(t, data)
	if bytes.Contains(tarData, []byte("temperature_K")) {
		t.Errorf("Save wrote a temperature")
	}
	edit := func(version, field string) []byte {
		return editManifest(t, tarData, func(m []byte) []byte {
			m = bytes.Replace(m, []byte(`"version": 3`), []byte(`"version": `+version), 1)
			if field != "" {
				m = bytes.Replace(m, []byte(`"weights_sha256"`), []byte(`"temperature_K": `+field+`, "weights_sha256"`), 1)
			}
			return m
		})
	}
	cases := []struct {
		name string
		tar  []byte
		want string // "" loads with an unknown temperature
	}{
		{"no field", tarData, ""},
		{"version 2", edit("2", ""), ""},
		{"version 3 with the field", edit("3", "300"), "unknown"},
		{"version 2 with the field", edit("2", "300"), "came with version 3"},
		{"zero", edit("3", "0"), "temperature_K 0"},
		{"negative", edit("3", "-5"), "temperature_K -5"},
	}
	for _, c := range cases {
		path := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_")+".gobg")
		if err := os.WriteFile(path, regzip(c.tar), 0o644); err != nil {
			t.Fatal(err)
		}
		_, _, info, err := LoadWithInfo(path, testenv.Backend(t))
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.want == "" && info.TemperatureK != 0:
			t.Errorf("%s: temperature %v K, want unknown (0)", c.name, info.TemperatureK)
		case c.want == "unknown":
			if err != nil || info.TemperatureK != 300 {
				t.Errorf("%s: %v K, %v; want 300 K", c.name, info.TemperatureK, err)
			}
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), path)):
			t.Errorf("%s: error %v, want one naming the file and containing %q", c.name, err, c.want)
		}
	}
}

// editManifest rewrites a model file's tar archive with its manifest
// changed by edit (the other entries as they were).
func editManifest(t *testing.T, tarData []byte, edit func([]byte) []byte) []byte {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(tarData))
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if h.Name == entryManifest {
			data = edit(data)
		}
		h.Size = int64(len(data))
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// gunzip returns the tar archive inside a model file's bytes.
func gunzip(t *testing.T, data []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if _, err := out.ReadFrom(zr); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// regzip compresses a (possibly damaged) tar archive back into a model file.
func regzip(b []byte) []byte {
	var out bytes.Buffer
	w := gzip.NewWriter(&out)
	w.Write(b)
	w.Close()
	return out.Bytes()
}
