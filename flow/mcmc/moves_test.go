package mcmc

import (
	"encoding/csv"
	"math"
	"strconv"
	"strings"
	"testing"
)

// TestMoveCSV: a row has the header's columns, and its floats read back
// exactly (NaN included).
func TestMoveCSV(t *testing.T) {
	m := Move{UCurrent: -123.456789012345678, UProposal: math.NaN(), LogQCurrent: 1.0 / 3, LogQProposal: -2e-300,
		LogAcceptance: math.Inf(-1), Accepted: true}
	line := m.AppendCSV([]byte("junk"), 7, 3500)
	rows, err := csv.NewReader(strings.NewReader(MovesCSVHeader + "\n" + string(line[4:]))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || len(rows[1]) != len(rows[0]) {
		t.Fatalf("rows %q: want a header and one row of as many columns", rows)
	}
	if rows[1][0] != "7" || rows[1][1] != "3500" || rows[1][2] != "1" {
		t.Errorf("move, step, accepted: %q, want 7, 3500, 1", rows[1][:3])
	}
	for i, want := range []float64{m.UCurrent, m.UProposal, m.LogQCurrent, m.LogQProposal, m.LogAcceptance} {
		got, err := strconv.ParseFloat(rows[1][3+i], 64)
		if err != nil || !(got == want || math.IsNaN(got) && math.IsNaN(want)) {
			t.Errorf("column %s: %q, want %v", rows[0][3+i], rows[1][3+i], want)
		}
	}
}

func TestStuckWarning(t *testing.T) {
	far, near := make([]float64, 11), make([]float64, 11)
	for i := range far {
		far[i], near[i] = -60-float64(i), -40+float64(i)
	}
	far[0], far[1] = 5, 5 // a few moves near: the median rules
	for _, tc := range []struct {
		name     string
		d        []float64
		accepted int
		warn     bool
	}{
		{"far below, none accepted", far, 0, true},
		{"far below, one accepted", far, 1, false},
		{"near", near, 0, false},
		{"too few moves", far[:9], 0, false},
	} {
		if got := StuckWarning(tc.d, tc.accepted); (got != "") != tc.warn {
			t.Errorf("%s: %q, want a warning: %v", tc.name, got, tc.warn)
		}
	}
}
