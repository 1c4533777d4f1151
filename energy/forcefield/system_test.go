package forcefield

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gobg/gobg/internal/testenv"
)

var (
	systemsOnce sync.Once
	systemsDir  string
)

// systems runs testdata/systems.py once per test binary and returns the
// directory with its files.
func systems(t *testing.T) string {
	t.Helper()
	pdb := filepath.Join(testenv.SharedData(t), "ala2.pdb")
	testenv.Python(t)
	systemsOnce.Do(func() {
		script, err := os.ReadFile(filepath.Join("testdata", "systems.py"))
		if err != nil {
			t.Fatal(err)
		}
		dir, err := os.MkdirTemp("", "gobg-forcefield-")
		if err != nil {
			t.Fatal(err)
		}
		testenv.RunPython(t, string(script), pdb, dir)
		systemsDir = dir
	})
	if systemsDir == "" {
		t.Fatal("testdata/systems.py failed in an earlier test")
	}
	return systemsDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if systemsDir != "" {
		os.RemoveAll(systemsDir)
	}
	os.Exit(code)
}

// openmmDump is amber.json: the System's parameters as OpenMM reads them
// back from amber.xml.
type openmmDump struct {
	Masses      []float64   `json:"masses"`
	Constraints [][]float64 `json:"constraints"`
	Forces      [][]any     `json:"forces"`
	Bonds       [][]float64 `json:"bonds"`
	Angles      [][]float64 `json:"angles"`
	Torsions    [][]float64 `json:"torsions"`
	NBParticles [][]float64 `json:"nonbonded_particles"`
	Exceptions  [][]float64 `json:"exceptions"`
	GBParticles [][]float64 `json:"gb_particles"`
	GB          []float64   `json:"gb"`
}

// TestParseMatchesOpenMM checks every parameter ParseSystemXML reads against
// the values OpenMM itself reads from the same file. Both parse the same
// decimal strings with correct rounding, so they must agree exactly.
func TestParseMatchesOpenMM(t *testing.T) {
	dir := systems(t)
	sys, err := ReadSystemXMLFile(filepath.Join(dir, "amber.xml"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "amber.json"))
	if err != nil {
		t.Fatal(err)
	}
	var want openmmDump
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}

	// rows turns each section of the parsed System into the layout of the
	// dump; indices become float64 (exact for these sizes).
	f := func(i int) float64 { return float64(i) }
	var got openmmDump
	got.Masses = sys.Masses
	for _, c := range sys.Constraints {
		got.Constraints = append(got.Constraints, []float64{f(c.I), f(c.J), c.Distance})
	}
	for _, b := range sys.Bonds {
		got.Bonds = append(got.Bonds, []float64{f(b.Atoms[0]), f(b.Atoms[1]), b.Length, b.K})
	}
	for _, a := range sys.Angles {
		got.Angles = append(got.Angles, []float64{f(a.Atoms[0]), f(a.Atoms[1]), f(a.Atoms[2]), a.Theta, a.K})
	}
	for _, d := range sys.Torsions {
		got.Torsions = append(got.Torsions, []float64{f(d.Atoms[0]), f(d.Atoms[1]), f(d.Atoms[2]), f(d.Atoms[3]), f(d.Periodicity), d.Phase, d.K})
	}
	if sys.Nonbonded == nil || sys.GBSA == nil {
		t.Fatalf("NonbondedForce %v, GBSAOBCForce %v", sys.Nonbonded != nil, sys.GBSA != nil)
	}
	for _, p := range sys.Nonbonded.Particles {
		got.NBParticles = append(got.NBParticles, []float64{p.Charge, p.Sigma, p.Epsilon})
	}
	for _, x := range sys.Nonbonded.Exceptions {
		got.Exceptions = append(got.Exceptions, []float64{f(x.I), f(x.J), x.ChargeProd, x.Sigma, x.Epsilon})
	}
	for _, p := range sys.GBSA.Particles {
		got.GBParticles = append(got.GBParticles, []float64{p.Charge, p.Radius, p.ScaleFactor})
	}
	got.GB = []float64{sys.GBSA.SolventDielectric, sys.GBSA.SoluteDielectric, sys.GBSA.SurfaceAreaEnergy}

	cases := []struct {
		name      string
		got, want [][]float64
	}{
		{"masses", [][]float64{got.Masses}, [][]float64{want.Masses}},
		{"constraints", got.Constraints, want.Constraints},
		{"bonds", got.Bonds, want.Bonds},
		{"angles", got.Angles, want.Angles},
		{"torsions", got.Torsions, want.Torsions},
		{"nonbonded particles", got.NBParticles, want.NBParticles},
		{"exceptions", got.Exceptions, want.Exceptions},
		{"GB particles", got.GBParticles, want.GBParticles},
		{"GB dielectrics and surface energy", [][]float64{got.GB}, [][]float64{want.GB}},
	}
	for _, c := range cases {
		if len(c.want) == 0 || len(c.want[0]) == 0 {
			t.Errorf("%s: OpenMM's dump is empty", c.name)
			continue
		}
		if len(c.got) != len(c.want) {
			t.Errorf("%s: %d rows, OpenMM has %d", c.name, len(c.got), len(c.want))
			continue
		}
		for r := range c.want {
			if len(c.got[r]) != len(c.want[r]) {
				t.Errorf("%s row %d: %v, OpenMM has %v", c.name, r, c.got[r], c.want[r])
				break
			}
			for k := range c.want[r] {
				if c.got[r][k] != c.want[r][k] {
					t.Errorf("%s row %d: %v, OpenMM has %v", c.name, r, c.got[r], c.want[r])
					break
				}
			}
		}
	}

	if len(sys.Forces) != len(want.Forces) {
		t.Fatalf("%d forces, OpenMM has %d", len(sys.Forces), len(want.Forces))
	}
	for k, fi := range sys.Forces {
		w := want.Forces[k]
		if fi.Type != w[0] || fi.Name != w[1] || float64(fi.Group) != w[2] {
			t.Errorf("force %d: %+v, OpenMM has %v", k, fi, w)
		}
	}
}

// TestRefusedSystems checks that Systems whose energy gobg cannot evaluate
// exactly are refused with a message that names the reason.
func TestRefusedSystems(t *testing.T) {
	dir := systems(t)
	cases := []struct{ file, want string }{
		{"pme.xml", "nonbonded method 4 (PME)"},
		{"gbcutoff.xml", "GBSAOBC method 1 (CutoffNonPeriodic)"},
		{"custombond.xml", "force CustomBondForce"},
		{"vsite.xml", "virtual site"},
		{"offsets.xml", "parameter offsets"},
		{"periodicbond.xml", "usesPeriodic=1"},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			_, err := ReadSystemXMLFile(filepath.Join(dir, c.file))
			if err == nil {
				t.Fatalf("accepted, want an error containing %q", c.want)
			}
			if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.file) {
				t.Errorf("error %q does not name %q and the file", err, c.want)
			}
		})
	}
}

// TestMalformedXML feeds hand-made broken inputs; each error must say what
// is wrong and where.
func TestMalformedXML(t *testing.T) {
	const head = `<System openmmVersion="8.6.1" type="System" version="1"><Particles><Particle mass="1"/><Particle mass="2"/></Particles>`
	cases := []struct{ name, xml, want string }{
		{"not XML", "this is not XML", "no XML element"},
		{"truncated", head + `<Forces>`, "unexpected EOF"},
		{"wrong root", `<State/>`, "root element is <State>"},
		{"no particles", `<System></System>`, "no <Particles>"},
		{"bad mass", `<System><Particles>` + "\n" + `<Particle mass="heavy"/></Particles></System>`, `line 2: <Particle>: attribute mass="heavy": not a number`},
		{"missing attribute", head + `<Forces><Force type="HarmonicBondForce"><Bonds><Bond p1="0" p2="1" k="1"/></Bonds></Force></Forces></System>`, `missing attribute "d"`},
		{"index out of range", head + `<Forces><Force type="HarmonicBondForce"><Bonds><Bond p1="0" p2="2" d="1" k="1"/></Bonds></Force></Forces></System>`, "p2=2 out of range"},
		{"same atom twice", head + `<Forces><Force type="HarmonicAngleForce"><Angles><Angle p1="0" p2="1" p3="0" a="1" k="1"/></Angles></Force></Forces></System>`, "particle 0 appears twice"},
		{"force without type", head + `<Forces><Force/></Forces></System>`, "without a type"},
		{"nonbonded count", head + `<Forces><Force type="NonbondedForce" method="0"><Particles><Particle q="0" sig="1" eps="0"/></Particles></Force></Forces></System>`, "1 particles, but the System has 2"},
		{"duplicate exception", head + `<Forces><Force type="NonbondedForce" method="0"><Particles><Particle q="0" sig="1" eps="0"/><Particle q="0" sig="1" eps="0"/></Particles><Exceptions><Exception p1="0" p2="1" q="0" sig="1" eps="0"/><Exception p1="1" p2="0" q="0" sig="1" eps="0"/></Exceptions></Force></Forces></System>`, "second exception for particles 0 and 1"},
		{"GB radius", head + `<Forces><Force type="GBSAOBCForce" method="0" solventDielectric="78.5" soluteDielectric="1"><Particles><Particle q="0" r="0.005" scale="1"/><Particle q="0" r="0.1" scale="1"/></Particles></Force></Forces></System>`, "not larger than the 0.009 nm dielectric offset"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseSystemXML(strings.NewReader(c.xml))
			if err == nil {
				t.Fatalf("accepted, want an error containing %q", c.want)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q, want it to contain %q", err, c.want)
			}
		})
	}
}

// TestToleratedExtras checks that unknown attributes and CMMotionRemover are
// accepted, and that a System without forces parses.
func TestToleratedExtras(t *testing.T) {
	const x = `<?xml version="1.0" ?>
<System openmmVersion="9.9" type="System" version="1" futureAttribute="x">
	<PeriodicBoxVectors><A x="2" y="0" z="0"/><B x="0" y="2" z="0"/><C x="0" y="0" z="2"/></PeriodicBoxVectors>
	<Particles><Particle mass="12" charge="ignored"/><Particle mass="1"/></Particles>
	<Constraints><Constraint d=".1" p1="0" p2="1"/></Constraints>
	<Forces>
		<Force forceGroup="2" frequency="1" name="CMMotionRemover" type="CMMotionRemover" version="1"/>
		<Force forceGroup="1" name="bonds" type="HarmonicBondForce" usesPeriodic="0" version="9" newKnob="on"><Bonds><Bond d=".15" k="1000" p1="1" p2="0" extra="1"/></Bonds></Force>
	</Forces>
</System>`
	sys, err := ParseSystemXML(strings.NewReader(x))
	if err != nil {
		t.Fatal(err)
	}
	if sys.NumParticles() != 2 || len(sys.Constraints) != 1 || len(sys.Bonds) != 1 || sys.Nonbonded != nil || sys.GBSA != nil {
		t.Errorf("parsed %+v", sys)
	}
	if b := sys.Bonds[0]; b.Atoms != [2]int{1, 0} || b.Length != 0.15 || b.K != 1000 {
		t.Errorf("bond %+v", b)
	}
	want := []ForceInfo{{Type: "CMMotionRemover", Name: "CMMotionRemover", Group: 2, Line: 7}, {Type: "HarmonicBondForce", Name: "bonds", Group: 1, Line: 8}}
	if len(sys.Forces) != 2 || sys.Forces[0] != want[0] || sys.Forces[1] != want[1] {
		t.Errorf("forces %+v, want %+v", sys.Forces, want)
	}
}
