package energy

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/gobg/gobg/energy/molecule"
	"github.com/gobg/gobg/internal/testenv"
)

// R must be OpenMM's own, so that reduced energies agree with OpenMM's to
// the last bit.
func TestMolarGasConstantIsOpenMMs(t *testing.T) {
	out := testenv.RunPython(t, `
import openmm.unit as u
print(repr(u.MOLAR_GAS_CONSTANT_R.value_in_unit(u.kilojoule_per_mole / u.kelvin)))
`)
	r, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	if err != nil {
		t.Fatalf("python printed %q: %v", out, err)
	}
	if r != MolarGasConstant {
		t.Errorf("OpenMM's R = %v kJ/mol/K, ours %v", r, MolarGasConstant)
	}
	// kT at 300 K, from the CODATA definition R = N_A k_B (exact since 2019).
	const nA, kB = 6.02214076e23, 1.380649e-23 // 1/mol, J/K
	if kt := KT(300); math.Abs(kt-nA*kB*300/1000) > 1e-15 {
		t.Errorf("KT(300) = %v kJ/mol, N_A k_B T = %v", kt, nA*kB*300/1000)
	}
}

func TestReduced(t *testing.T) {
	e := []float64{-73.7566, 0, 2494.3387854459, math.Inf(1)}
	u := Reduced(e, 300)
	kt := MolarGasConstant * 300
	for i := range e {
		if want := e[i] / kt; u[i] != want {
			t.Errorf("Reduced(%v) = %v, want %v", e[i], u[i], want)
		}
	}
	if math.Abs(u[2]-1000) > 1e-9 {
		t.Errorf("2494.3387854459 kJ/mol at 300 K = %v kT, want 1000", u[2])
	}
}

func TestLinLogCutValues(t *testing.T) {
	c := LinLogCut{Cut: 10, Max: 20}
	for _, tc := range []struct {
		name  string
		u     float64
		f, df float64
	}{
		{"below the cut", -5, -5, 1},
		{"at the cut", 10, 10, 1},
		// log(1 + (e-1)) = 1 exactly enough: f = Cut + 1, f' = 1/e.
		{"e-1 above the cut", 10 + math.E - 1, 11, 1 / math.E},
		{"just under the clip", 10 + math.Exp(10) - 1 - 1e-3, 20 + math.Log1p(-1e-3*math.Exp(-10)), 1 / (math.Exp(10) - 1e-3)},
		{"clipped", 10 + math.Exp(10), 20, 0},
		{"huge", 1e300, 20, 0},
		{"+Inf", math.Inf(1), 20, 0},
		{"NaN", math.NaN(), 20, 0},
		{"-Inf", math.Inf(-1), math.Inf(-1), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, df := c.Value(tc.u)
			if math.Abs(f-tc.f) > 1e-12*math.Max(1, math.Abs(tc.f)) && f != tc.f {
				t.Errorf("f(%v) = %v, want %v", tc.u, f, tc.f)
			}
			if math.Abs(df-tc.df) > 1e-12 {
				t.Errorf("f'(%v) = %v, want %v", tc.u, df, tc.df)
			}
		})
	}
}

// The derivative Value reports must be the derivative of the value it
// reports: central differences over the range, the cut included.
func TestLinLogCutDerivative(t *testing.T) {
	c := DefaultLinLogCut
	const h = 1e-4
	for _, u := range []float64{-500, 0, 999, 999.9999, 1000.0001, 1001, 1500, 1e4, 1e7, 5e8} {
		f1, _ := c.Value(u + h)
		f0, _ := c.Value(u - h)
		_, df := c.Value(u)
		fd := (f1 - f0) / (2 * h)
		// Roundoff of (f1-f0) is ~1e-16 |f| / h.
		tol := 1e-6 + 1e-15*math.Abs(f1)/h
		if math.Abs(fd-df) > tol {
			t.Errorf("u = %v: f' = %v, central difference %v", u, df, fd)
		}
	}
	// Monotone and continuous: no jump at the cut.
	below, _ := c.Value(c.Cut)
	above, _ := c.Value(math.Nextafter(c.Cut, math.Inf(1)))
	if above < below || above-below > 1e-12 {
		t.Errorf("jump at the cut: %v -> %v", below, above)
	}
}

func TestLinLogCutApply(t *testing.T) {
	c := LinLogCut{Cut: 1, Max: 5}
	u := []float64{0, 1 + math.E - 1, math.NaN(), 1e6}
	forces := [][]molecule.Vec3{
		{{1, 2, 3}},
		{{math.E, -math.E, 0}},
		{{math.NaN(), 0, 0}},
		{{math.Inf(1), 1, 1}},
	}
	keep := forces[1][0]
	f, fr := c.Apply(u, forces)
	want := [][]molecule.Vec3{{{1, 2, 3}}, {{1, -1, 0}}, {{0, 0, 0}}, {{0, 0, 0}}}
	wantF := []float64{0, 2, 5, 5}
	for i := range u {
		if math.Abs(f[i]-wantF[i]) > 1e-12 {
			t.Errorf("sample %d: f = %v, want %v", i, f[i], wantF[i])
		}
		for k := range 3 {
			if math.Abs(fr[i][0][k]-want[i][0][k]) > 1e-12 {
				t.Errorf("sample %d: regularised force %v, want %v", i, fr[i][0], want[i][0])
			}
		}
	}
	if forces[1][0] != keep {
		t.Error("Apply modified its input")
	}
	if _, fr := c.Apply(u, nil); fr != nil {
		t.Error("Apply without forces returned forces")
	}
}

func TestSampleError(t *testing.T) {
	var err error = &SampleError{Index: 3, Reason: "non-finite energy nan"}
	if !errors.Is(err, ErrNonFinite) {
		t.Error("SampleError does not wrap ErrNonFinite")
	}
	if got := err.Error(); got != "sample 3: non-finite energy nan" {
		t.Errorf("message %q", got)
	}
	r := Result{Errors: []error{nil, err, nil, err}}
	if r.Failed() != 2 {
		t.Errorf("Failed() = %d, want 2", r.Failed())
	}
}

func TestCheckPositions(t *testing.T) {
	for _, tc := range []struct {
		name string
		x    [][]molecule.Vec3
		ok   bool
	}{
		{"empty batch", nil, true},
		{"right", [][]molecule.Vec3{make([]molecule.Vec3, 3), make([]molecule.Vec3, 3)}, true},
		{"one short", [][]molecule.Vec3{make([]molecule.Vec3, 3), make([]molecule.Vec3, 2)}, false},
	} {
		if err := CheckPositions(tc.x, 3); (err == nil) != tc.ok {
			t.Errorf("%s: error %v", tc.name, err)
		}
	}
}

func TestRelErrors(t *testing.T) {
	for _, tc := range []struct {
		a, b, want float64
	}{
		{-71.0, -70.0, 1.0 / 70},
		{0.5, 0.25, 0.25}, // |b| < 1 kJ/mol: absolute
		{3, 3, 0},
	} {
		if got := RelEnergyError(tc.a, tc.b); math.Abs(got-tc.want) > 1e-15 {
			t.Errorf("RelEnergyError(%g, %g) = %g, want %g", tc.a, tc.b, got, tc.want)
		}
	}
	b := []molecule.Vec3{{3, 0, 0}, {0, 4, 0}}
	a := []molecule.Vec3{{3, 0, 0}, {0, 4, 0.5}}
	if got := RelForceError(a, b); math.Abs(got-0.1) > 1e-15 {
		t.Errorf("RelForceError = %g, want 0.1", got)
	}
	zero := []molecule.Vec3{{0, 0, 0}, {0, 0, 0}}
	if got := RelForceError(a, zero); math.Abs(got-math.Sqrt(9+16+0.25)) > 1e-12 {
		t.Errorf("RelForceError against zero forces = %g, want the absolute error", got)
	}
}

func TestCheckTemperature(t *testing.T) {
	for _, c := range []struct {
		k  float64
		ok bool
	}{
		{DefaultTemperature, true}, {1e-3, true}, {1e6, true},
		{0, false}, {-300, false}, {math.NaN(), false}, {math.Inf(1), false}, {math.Inf(-1), false},
	} {
		err := CheckTemperature(c.k)
		if (err == nil) != c.ok {
			t.Errorf("CheckTemperature(%g) = %v, want ok %v", c.k, err, c.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "not "+strconv.FormatFloat(c.k, 'g', -1, 64)) {
			t.Errorf("CheckTemperature(%g): %q does not name the value", c.k, err)
		}
	}
}
